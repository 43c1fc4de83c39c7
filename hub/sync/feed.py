"""One store watcher for every sync session of this hub process, fanned out by site.

The feed follows ``store.watch`` from the revision it started at and hands each
``site_object`` change to the :class:`Subscription` of the site its key names (if that site
has a session here). A subscription holds at most ``bound`` changes: a site that does not
keep up is marked ``overflowed`` and its queue dropped, and its session reads what it missed
from the store's history (``store.changes``) instead, so a slow site costs memory bounded by
``bound`` and never stalls the feed or other sites. If the watcher itself fails (or its
history is compacted under it), it restarts at the store's current revision and marks every
subscription overflowed.

A session subscribes *before* it catches up from the store; a change is then either in its
catch-up or delivered to its queue (or both: the session skips revisions it has passed).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from atoll.background import Loop, LoopSettings
from atoll.hub.sites.intent import SITE_OBJECT, site_of_key
from atoll.hub.store.base import Change, Store

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.items: deque[Change] = deque()
        self.overflowed = False
        self.news = asyncio.Event()

    def push(self, change: Change) -> None:
        if len(self.items) >= self.bound:
            self.items.clear()
            self.overflowed = True
        else:
            self.items.append(change)
        self.news.set()

    def take(self) -> list[Change]:
        self.news.clear()
        items = list(self.items)
        self.items.clear()
        return items

    def __len__(self) -> int:
        return len(self.items)


class Feed:
    def __init__(self, store: Store, bound: int) -> None:
        self._store = store
        self._bound = bound
        self._subs: dict[str, Subscription] = {}
        self._since: int | None = None
        self._loop = Loop("sync feed", self._follow, LoopSettings(interval=0.0, retry=1.0),
                          logger=log)  # fmt: skip

    async def start(self) -> None:
        self._since = await self._store.revision()
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.cancel()

    def subscribe(self, site_id: str) -> Subscription:
        sub = self._subs[site_id] = Subscription(self._bound)
        return sub

    def unsubscribe(self, site_id: str, sub: Subscription) -> None:
        if self._subs.get(site_id) is sub:
            del self._subs[site_id]

    async def _follow(self) -> None:
        if self._since is None:  # a restart after a failure: resume at the store's revision
            self._since = await self._store.revision()
            for sub in self._subs.values():
                sub.overflowed = True
                sub.news.set()
        try:
            async for change in self._store.watch(self._since, kind=SITE_OBJECT):
                self._since = change.revision
                target = self._subs.get(site_of_key(change.key))
                if target is not None:
                    target.push(change)
        except BaseException:
            self._since = None
            raise
