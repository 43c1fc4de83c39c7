"""One site's sync session on the hub, after the hello (PROTOCOL.md "Session").

The server (:mod:`.server`) runs three tasks per session: one reads the site's frames and
answers pings and acks at once, one records facts, and :meth:`Session.down` sends intent (a
snapshot, or the changes since the site's revision from the store's history, then live
changes from the :mod:`.feed`) with at most ``window`` unacknowledged data frames
(:class:`atoll.sync.window.Window`, marked by revision). Frames go out through one lock that
numbers them (``n``), so a pong waits for at most one frame, never for the window.

Requests (version 3, :meth:`Session.ask_console`) go out beside all that, numbered in the
session; the reader hands each reply to its waiter (:meth:`Session.answered`), and a
session that ends fails the waiters it leaves (:meth:`Session.end_requests`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import TYPE_CHECKING

import msgpack
from aiohttp import web

from atoll.errors import NotFound
from atoll.hub.sites import intent
from atoll.hub.store.base import Change, Compacted, Store
from atoll.hub.store.query import list_all
from atoll.hub.sync import antientropy
from atoll.hub.sync.facts import FactBudget, forget_statuses
from atoll.hub.sync.operations import ObjectBudget
from atoll.jsonbody import JSON
from atoll.sync import codec, digest, frames, versions
from atoll.sync.window import Window

if TYPE_CHECKING:
    from atoll.hub.sync.feed import Feed, Subscription

log = logging.getLogger(__name__)


class SessionError(Exception):
    """Close this session with an ``error`` frame: ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class SessionEnded(Exception):
    """The session ended (or is ending) before it could answer a request."""


class TooManyAsked(Exception):
    """As many requests as a session may have waiting are waiting."""


MAX_ASKED = 16  # requests one session has out and unanswered, at most


@dataclasses.dataclass(frozen=True)
class Limits:
    heartbeat_interval: float
    dead_after: float
    window: int
    max_frame: int
    digest_interval: float = 0.0  # seconds between anti-entropy checks; 0: none
    reconnect_rate: float = 250.0  # reconnects per second the sites are asked to spread to
    event_limit: int = 1000  # events a site keeps at the hub (its oldest go beyond it)
    operation_limit: int = 1000  # operation records a site keeps at the hub (the same)
    object_limit: int = 5000  # objects made at a site the hub adopts (creates beyond: refused)


class Session:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        store: Store,
        feed: Feed,
        limits: Limits,
        *,
        site: JSON,
        epoch: str,
        version: int,
        applied_revision: int,
        acked_seq: int,
        foreign: bool = False,
    ) -> None:
        self.ws, self.store, self.feed, self.limits = ws, store, feed, limits
        self.site, self.epoch, self.version = site, epoch, version
        self.site_id, self.site_name = str(site["id"]), str(site["name"])
        # the site's revisions are of another history of the store (its hello says so):
        # they count nothing here, and the site starts over with a snapshot
        self.foreign = foreign
        applied_revision = 0 if foreign else applied_revision
        self.applied_revision = applied_revision
        self.acked_revision = applied_revision
        self.acked_seq = acked_seq
        self.sent_seq = acked_seq
        self.last_frame = time.monotonic()
        self.frames_in = 1  # the hello
        self.frames_out = 0
        self.telemetry = 0
        self.repairs = 0  # repairs sent since the figures were last written
        self.capacity: frames.Capacity | None = None  # reported since last written
        self.events = FactBudget(limits.event_limit)  # the site's events at the hub
        self.operations = FactBudget(limits.operation_limit, intent.SITE_OPERATION)
        self.objects = ObjectBudget(limits.object_limit)  # what the site made, adopted
        self.digest_replies: asyncio.Queue[frames.Digest] = asyncio.Queue(maxsize=64)
        self.next_check = time.monotonic() + limits.digest_interval
        # data frames out and unacked, marked by revision, each holding its item count
        self.window = Window[int](limits.window, acked=applied_revision)
        # objects gone at the hub, by the revision that tells the site: once it acks that,
        # their statuses go too (atoll.hub.sync.facts); at most a window of frames' worth
        self.gone: list[tuple[int, str]] = []
        self.queued = 0
        self.dirty = True
        self.flushed_at = 0.0
        self.closing: str | None = None
        self._send_lock = asyncio.Lock()
        self._room = asyncio.Event()  # an ack settled frames: the window may have room
        self._sent_revision = applied_revision  # the highest revision a frame has said
        self._asked: dict[int, asyncio.Future[frames.ConsoleReply]] = {}  # by request id
        self._last_request = 0  # the newest request id sent in this session

    # -- sending ---------------------------------------------------------------------------
    async def send(self, frame: frames.Frame) -> None:
        async with self._send_lock:
            self.frames_out += 1
            frame = dataclasses.replace(frame, v=self.version, n=self.frames_out)
            await self.ws.send_bytes(codec.encode(frame))

    async def fail(self, code: str, message: str) -> None:
        """Send ``error`` and close (once; later calls do nothing)."""
        if self.closing is not None:
            return
        self.closing = code
        log.info("site %s sync session %s closed: %s: %s", self.site_name, self.epoch, code,
                 message)  # fmt: skip
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.send(frames.Error(v=self.version, code=code, message=message[:4096]))
        await self.ws.close()

    # -- requests --------------------------------------------------------------------------
    async def ask_console(self, server_id: str, lines: int) -> frames.ConsoleReply:
        """Ask the site for server ``server_id``'s last ``lines`` console lines and wait for
        its reply (the caller bounds the wait: a request cancelled is forgotten, and its
        reply dropped): SessionEnded if the session ends first, TooManyAsked if
        :data:`MAX_ASKED` requests are out already. The caller checks that the session's
        version has requests (``versions.supports``)."""
        if self.closing is not None:
            raise SessionEnded(f"the session is closing ({self.closing})")
        if len(self._asked) >= MAX_ASKED:
            raise TooManyAsked(f"{MAX_ASKED} requests to the site are waiting for replies")
        self._last_request += 1
        request = self._last_request
        waiter: asyncio.Future[frames.ConsoleReply] = asyncio.get_running_loop().create_future()
        self._asked[request] = waiter
        try:
            try:
                await self.send(frames.Console(v=self.version, request=request,
                                               server_id=server_id, lines=lines))  # fmt: skip
            except (ConnectionError, RuntimeError) as exc:  # the websocket is closing
                raise SessionEnded(f"the request could not be sent: {exc}") from exc
            return await waiter
        finally:
            del self._asked[request]

    def answered(self, reply: frames.ConsoleReply) -> None:
        """The site's reply to a request: to its waiter, if the request still has one (one
        that timed out has none: the reply is dropped)."""
        if reply.request > self._last_request:
            raise SessionError("out_of_order", f"a reply to request {reply.request}, which "
                               "was never sent")  # fmt: skip
        waiter = self._asked.get(reply.request)
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def end_requests(self) -> None:
        """The session is over: every request still waiting fails with SessionEnded."""
        for waiter in self._asked.values():
            if not waiter.done():
                waiter.set_exception(SessionEnded("the session ended before the site replied"))

    @property
    def pending_changes(self) -> int:
        return sum(self.window.unacked()) + self.queued

    # -- down ------------------------------------------------------------------------------
    async def down(self) -> None:
        """Snapshot or catch up, then follow the feed; runs until cancelled."""
        sub = self.feed.subscribe(self.site_id)
        try:
            cursor = self.applied_revision
            if cursor > await self.store.revision():  # not this store's history: start over
                self.window = Window[int](self.limits.window)
                self._sent_revision = 0
                cursor = await self._snapshot()
            elif cursor == 0:
                cursor = await self._snapshot()
            cursor = await self._catch_up(cursor)
            while True:
                if sub.overflowed:
                    sub.overflowed = False
                    sub.take()
                    cursor = await self._catch_up(cursor)
                live = [c for c in sub.take() if c.revision > cursor]
                if live:
                    self.queued = len(live)
                    await self._send_changes(live, live[-1].revision)
                    cursor = live[-1].revision
                    self.queued = 0
                    continue
                if self._check_due():
                    await self._check()
                    continue
                await self._idle(sub)
        finally:
            self.feed.unsubscribe(self.site_id, sub)

    async def _catch_up(self, cursor: int) -> int:
        """Send this site's changes after ``cursor`` from the store's history.

        Only this site's share of the history is read (``changes(kind=, key_prefix=)``):
        reading every write and keeping this site's made each catch-up decode the whole
        history since ``cursor``, every other site's records too, and with a thousand
        sites connecting at once that was most of the hub's CPU and memory.
        """
        # every change of this site's up to here is in the reads below, which start after
        scanned = await self.store.revision()
        prefix = intent.site_prefix(self.site_id)
        while True:
            try:
                mine = await self.store.changes(
                    cursor, limit=1000, kind=intent.SITE_OBJECT, key_prefix=prefix
                )
            except Compacted:
                return await self._snapshot()
            if not mine:
                break
            cursor = mine[-1].revision
            await self._send_changes(mine, cursor)
        cursor = max(cursor, scanned)
        if cursor > self._sent_revision:  # moved past others' writes: say so (progress)
            await self._send_frames([], cursor, snapshot=False)
        return cursor

    async def _send_changes(self, changes: list[Change], revision: int) -> None:
        items = [item for c in changes if (item := self._change(c)) is not None]
        self.gone += [(c.revision, c.key) for c in changes if c.op == "delete" or c.value is None]
        await self._send_frames(items, revision, snapshot=False)

    def _change(self, change: Change) -> frames.Change | None:
        _, kind, object_id = change.key.split("/", 2)
        value = change.value
        if change.op == "delete" or value is None:
            return frames.Change(revision=change.revision, op="delete", kind=kind, id=object_id)
        if value.get("conflict"):
            return None  # held until the conflict is resolved
        if value.get("desired") is None:  # a tombstone: --keep hub of a hub-side delete
            return frames.Change(revision=change.revision, op="delete", kind=kind, id=object_id,
                                 override=True)  # fmt: skip
        desired = {**value["desired"], "hub_revision": change.revision}
        return frames.Change(revision=change.revision, op="put", kind=kind, id=object_id,
                             object=desired, override=bool(value.get("override")))  # fmt: skip

    async def _snapshot(self) -> int:
        """Every object placed at the site, in parts; the revision it is as of."""
        revision = await self.store.revision()
        items: list[frames.Change] = []
        placed = await intent.placed_at(self.store, self.site_id)
        known = {record.key for record in placed}
        statuses = await list_all(self.store, intent.SITE_STATUS, {},
                                  key_prefix=intent.site_prefix(self.site_id))  # fmt: skip
        self.gone += [(revision, s.key) for s in statuses if s.key not in known]
        for record in placed:
            held = record.value.get("conflict")
            if held:  # held: the site keeps its own version meanwhile
                item = await self._held(record.key, str(held), record.revision)
            else:
                item = self._change(Change(record.revision, record.kind, record.key, "put",
                                           record.value))  # fmt: skip
            if item is not None and item.op == "put":
                items.append(item)
        await self._send_frames(items, revision, snapshot=True)
        return revision

    async def _held(self, key: str, conflict_id: str, revision: int) -> frames.Change | None:
        try:
            conflict = (await self.store.get(intent.CONFLICT, conflict_id)).value
        except NotFound:
            return None
        site_side = conflict.get("site_desired")
        if site_side is None:
            return None
        _, kind, object_id = key.split("/", 2)
        return frames.Change(revision=revision, op="put", kind=kind, id=object_id,
                             object={**site_side, "hub_revision": revision})  # fmt: skip

    async def _send_frames(
        self, items: list[frames.Change], revision: int, *, snapshot: bool, shared: bool = False
    ) -> None:
        """``items`` in frames under the frame size and the window; the last one says
        ``revision`` (a snapshot's parts all do, the last with ``last``; so do all parts
        when ``shared``: repairs, whose items are in no revision order)."""
        budget = self.limits.max_frame // 2
        parts: list[list[frames.Change]] = [[]]
        size = 0
        for item in items:
            cost = len(msgpack.packb(item.to_wire(), use_bin_type=True)) + 8
            if parts[-1] and (size + cost > budget or len(parts[-1]) >= frames.MAX_ITEMS):
                parts.append([])
                size = 0
            parts[-1].append(item)
            size += cost
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            # A frame says the site is at `at` once it has it: all of every revision up to
            # there. A part ends before the next part's first revision (one etcd commit is
            # one revision with several writes, and may straddle two parts).
            at = revision if (last or snapshot or shared) else parts[index + 1][0].revision - 1
            while self.window.full:
                self._room.clear()
                await self._room.wait()
            frame: frames.Frame
            if snapshot:
                frame = frames.Snapshot(v=self.version, revision=at, items=tuple(part), last=last)
            else:
                frame = frames.Changes(v=self.version, revision=at, items=tuple(part))
            # a snapshot's parts share its revision: its last part holds the window for all
            if at > self.window.last and (last or not snapshot):
                self.window.sent(at, len(part))
            self._sent_revision = max(self._sent_revision, at)
            self.dirty = True
            await self.send(frame)

    # -- anti-entropy ----------------------------------------------------------------------
    def _check_due(self) -> bool:
        return (
            self.limits.digest_interval > 0
            and versions.supports(self.version, "digest")
            and self.window.in_flight == 0
            and time.monotonic() >= self.next_check
        )

    async def _idle(self, sub: Subscription) -> None:
        """Until the feed has news for this site, or the next check is due."""
        wait = None
        if self.limits.digest_interval > 0 and versions.supports(self.version, "digest"):
            wait = max(self.next_check - time.monotonic(), 0.0)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await sub.news.wait()

    async def _check(self) -> None:
        """One digest check and the repairs it calls for (:mod:`.antientropy`)."""
        self.next_check = time.monotonic() + self.limits.digest_interval
        items, records = await antientropy.hub_items(self.store, self.site_id)
        while not self.digest_replies.empty():  # a late reply to an earlier check
            self.digest_replies.get_nowait()
        rec = digest.Reconciler(items)
        requests = rec.start()
        try:
            while requests:
                for ranges in requests:
                    await self.send(frames.Digest(v=self.version, round=rec.round, ranges=ranges))
                requests = await antientropy.replies_for(
                    self.digest_replies, rec, self.limits.dead_after
                )
        except digest.DigestError as exc:
            raise SessionError(exc.code, str(exc)) from exc
        except TimeoutError as exc:
            raise SessionError("dead", "no digest reply within dead_after") from exc
        found = antientropy.plan(rec.differences, records)
        at = max(self._sent_revision, 1)
        repairs = [
            frames.Change(revision=r.revision, op="put", kind=r.value["kind"], id=r.value["id"],
                          object=intent.desired_wire(r), override=bool(r.value.get("override")),
                          repair=True)
            for r in found.puts
        ] + [
            frames.Change(revision=at, op="delete", kind=kind, id=object_id, repair=True)
            for kind, object_id in map(digest.parse_key, found.deletes)
        ]  # fmt: skip
        if repairs:
            self.gone += [(at, intent.object_key(self.site_id, item.kind, item.id))
                          for item in repairs if item.op == "delete"]  # fmt: skip
            for item in repairs:
                log.info("site %s: anti-entropy repairs %s %s %s", self.site_name, item.op,
                         item.kind, item.id)  # fmt: skip
            await self._send_frames(repairs, self._sent_revision, snapshot=False, shared=True)
            self.repairs += len(repairs)
            self.dirty = True

    # -- up --------------------------------------------------------------------------------
    async def acked(self, revision: int) -> None:
        """The site persisted everything up to ``revision``."""
        if revision > self._sent_revision:
            raise SessionError("out_of_order", f"ack of revision {revision}, beyond what was "
                               f"sent ({self._sent_revision})")  # fmt: skip
        self.window.ack(min(revision, self.window.last))  # a snapshot part may say more
        self.acked_revision = max(self.acked_revision, revision)
        self.dirty = True
        self._room.set()
        done = [key for at, key in self.gone if at <= revision]
        if done:  # the site has these deletes: it tears the objects down and reports no more
            self.gone = [(at, key) for at, key in self.gone if at > revision]
            await forget_statuses(self.store, done)

    def figures(self, now: float) -> JSON:
        """The site record's ``sync`` figures this session knows."""
        return {
            "acked_revision": self.acked_revision,
            "pending_changes": self.pending_changes,
            "acked_seq": self.acked_seq,
            "sent_seq": max(self.sent_seq, self.acked_seq),
            "last_heard": now - (time.monotonic() - self.last_frame),
            "protocol_version": self.version,
        }
