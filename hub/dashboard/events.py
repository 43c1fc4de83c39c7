"""``/ui/events``: the dashboard's live updates, as server-sent events.

One :class:`Broadcaster` per hub process follows the store's watch feed (one watcher shared
by every open browser) and turns each change the dashboard shows into a small event
(``topic``: ``site``, ``conflict``, ``site_event``, ``site_object``, ``image_transfer``,
``alarm`` or ``vnf``; a site's event carries its overview row). Each stream gets a
:class:`Listener` that coalesces by object (a site reporting every few seconds is one
pending event, not a queue), so a slow browser costs memory bounded by the objects it can
see, and never stalls the feed or other browsers.

Every event's ``id`` is the store revision it came from. A browser that reconnects sends
``Last-Event-ID``; the broadcaster replays what it still holds after that revision, or, if
it no longer holds all of it, sends ``resync`` (the page reloads its data). A stream sends
a heartbeat comment every ``HEARTBEAT`` seconds, and ends when its token expires or is
revoked (the page then finds it is signed out). Visibility follows the API's: system
callers see everything; a project's members see sites (every role may list them) and the
objects of their own project.

A stream holds a socket, a task and a listener for as long as its client keeps it open, so
one user holds at most ``[hub] dashboard_streams_per_user`` at once (a browser needs one
per open tab): one more is refused with 429 until one of theirs ends. Before, one member's
token opened thousands (about 80 KiB of the hub's memory and one of its open files each),
until the hub could accept no site's connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from atoll.background import Loop, LoopSettings
from atoll.errors import TooManyRequests
from atoll.hub.catalog.images import TRANSFER_KIND
from atoll.hub.dashboard.fleet import row
from atoll.hub.sites import intent
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import Change, Store
from atoll.tokens import Claims

log = logging.getLogger(__name__)

HEARTBEAT = 15.0  # seconds between heartbeat comments on an idle stream
BATCH = 0.25  # seconds a stream gathers changes before it writes them
KEEP = 4096  # events held for replay after a reconnect
PENDING = 10000  # distinct objects a listener may have pending before it must resync

TOPICS = {
    SITE_KIND: "site",
    intent.CONFLICT: "conflict",
    intent.SITE_EVENT: "site_event",
    intent.SITE_OBJECT: "site_object",
    TRANSFER_KIND: "image_transfer",
}
PREFIXES = (("alarm", "alarm"), ("vnf", "vnf"))  # kinds other lanes' routes keep


def topic_of(kind: str) -> str | None:
    if kind in TOPICS:
        return TOPICS[kind]
    return next((topic for prefix, topic in PREFIXES if kind.startswith(prefix)), None)


@dataclass(frozen=True)
class Event:
    revision: int
    topic: str
    kind: str
    key: str
    project_id: str | None
    data: dict[str, Any]

    def encode(self) -> bytes:
        body = json.dumps({"kind": self.kind, "key": self.key, **self.data},
                          separators=(",", ":"))  # fmt: skip
        return f"id: {self.revision}\nevent: {self.topic}\ndata: {body}\n\n".encode()


def event_of(change: Change) -> Event | None:
    topic = topic_of(change.kind)
    if topic is None:
        return None
    value = change.value or {}
    data: dict[str, Any] = {"deleted": change.op == "delete"}
    if topic == "site" and change.value is not None:
        data["site"] = row(value)
    elif isinstance(value.get("site"), str):
        data["site"] = value["site"]
    project = value.get("project_id")
    return Event(change.revision, topic, change.kind, change.key,
                 project if isinstance(project, str) else None, data)  # fmt: skip


def visibility(claims: Claims) -> Callable[[Event], bool]:
    if claims.system:
        return lambda event: True
    project = claims.project_id
    return lambda event: (
        event.topic == "site" or (event.project_id is not None and event.project_id == project)
    )


@dataclass(eq=False)  # each stream's own: kept in a set by identity
class Listener:
    visible: Callable[[Event], bool]
    owner: str = ""  # the user whose stream it is
    pending: OrderedDict[tuple[str, str], Event] = field(default_factory=OrderedDict)
    news: asyncio.Event = field(default_factory=asyncio.Event)
    resync: bool = False

    def offer(self, event: Event) -> None:
        if not self.visible(event):
            return
        key = (event.kind, event.key)
        self.pending.pop(key, None)
        self.pending[key] = event
        if len(self.pending) > PENDING:
            self.pending.clear()
            self.resync = True
        self.news.set()

    def take(self) -> tuple[list[Event], bool]:
        self.news.clear()
        events, resync = list(self.pending.values()), self.resync
        self.pending.clear()
        self.resync = False
        return events, resync


class Broadcaster:
    def __init__(self, store: Store, keep: int = KEEP, per_owner: int = 0) -> None:
        """``per_owner``: streams one owner may hold at once (0: no limit)."""
        self._store = store
        self._recent: deque[Event] = deque(maxlen=keep)
        self._listeners: set[Listener] = set()
        self._per_owner = per_owner
        self._held: dict[str, int] = {}  # owner: streams open
        self.since = 0  # the newest revision followed
        self._floor = 0  # every event after this revision is in ``_recent``
        self._closing = False
        self._loop = Loop("dashboard feed", self._follow, LoopSettings(interval=0.0, retry=1.0),
                          logger=log)  # fmt: skip

    async def start(self) -> None:
        self.since = self._floor = await self._store.revision()
        self._loop.start()

    async def stop(self) -> None:
        self._closing = True
        for listener in self._listeners:
            listener.news.set()
        await self._loop.cancel()

    @property
    def closing(self) -> bool:
        return self._closing

    def attach(
        self, visible: Callable[[Event], bool], last_id: int | None, owner: str = ""
    ) -> Listener:
        """A new stream's listener; TooManyRequests if ``owner`` holds as many as it may."""
        held = self._held.get(owner, 0)
        if self._per_owner > 0 and held >= self._per_owner:
            raise TooManyRequests(
                f"{owner} has {held} live update streams open, as many as a user may "
                "([hub] dashboard_streams_per_user): close one first",
                int(HEARTBEAT),
            )
        self._held[owner] = held + 1
        listener = Listener(visible, owner)
        if last_id is not None:
            if last_id < self._floor:
                listener.resync = True
                listener.news.set()
            else:
                for event in self._recent:
                    if event.revision > last_id:
                        listener.offer(event)
        self._listeners.add(listener)
        return listener

    def detach(self, listener: Listener) -> None:
        if listener not in self._listeners:
            return
        self._listeners.discard(listener)
        held = self._held.pop(listener.owner, 1) - 1
        if held > 0:
            self._held[listener.owner] = held

    async def _follow(self) -> None:
        try:
            async for change in self._store.watch(self.since):
                self.since = change.revision
                event = event_of(change)
                if event is None:
                    continue
                if len(self._recent) == self._recent.maxlen:
                    self._floor = self._recent[0].revision
                self._recent.append(event)
                for listener in self._listeners:
                    listener.offer(event)
        except Exception:  # the next pass resumes at the store's revision: everyone resyncs
            self.since = self._floor = await self._store.revision()
            self._recent.clear()
            for listener in self._listeners:
                listener.resync = True
                listener.news.set()
            raise


BROADCASTER = web.AppKey("dashboard_broadcaster", Broadcaster)


def last_event_id(request: web.Request) -> int | None:
    text = request.headers.get("Last-Event-ID", "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
