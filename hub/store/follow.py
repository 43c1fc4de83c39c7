"""``watch`` written once for every store, and the one poller that wakes its waiters.

:func:`watch` is every backend's ``Store.watch``: it reads the backend's ``changes(since)``
in batches and, once caught up, waits until the store moves past the last revision it gave
(``wait_past``), then reads again. A backend supplies only those two primitives.

A hub may have many watchers at once (one per syncing site). Polling the backend once per
watcher would cost a query (SQLite) or a worker thread and a watch stream (etcd) each; a
:class:`Follower` runs one poll loop (an :class:`atoll.background.Loop`) while anyone is
waiting, and wakes all waiters whose revision it has passed. The store also reports its own
writes (:meth:`Follower.saw`), so local changes wake watchers at once. Waiters give up after
``fallback`` seconds and re-check the store, so a watcher makes progress even if the poll
loop fails (a failing poll is logged once, and its recovery once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import suppress
from functools import partial

from atoll.background import Loop, LoopSettings
from atoll.hub.store.base import Change

log = logging.getLogger(__name__)


async def watch(
    changes: Callable[..., Awaitable[list[Change]]],
    wait_past: Callable[[int], Awaitable[None]],
    since: int,
    *,
    kind: str | None = None,
    revision: Callable[[], Awaitable[int]] | None = None,
) -> AsyncGenerator[Change, None]:
    """Every change after ``since`` in revision order, then new ones as they happen.

    ``changes(since)`` is the backend's "changes since" (a batch; ``[]`` when caught up;
    :class:`~atoll.hub.store.base.Compacted` propagates to the consumer); ``wait_past(rev)``
    returns once the store may be past ``rev`` (it may also return early: the batch is read
    again, so an early return costs a read, never a change).

    With ``kind``, ``changes(since, kind=kind)`` keeps that kind's writes only, and
    ``revision()`` (the store's) is read before each batch: an empty batch then says nothing
    of that kind was written up to it, so the watch waits past that, not past the last change
    it kept (which others' writes have long passed: it would read again at once, forever).
    """
    if kind is None:
        revision = None  # every write is read: a batch's last change is as far as it read
    elif revision is None:
        raise ValueError("a watch of one kind needs the store's revision()")
    else:
        changes = partial(changes, kind=kind)
    while True:
        top = since if revision is None else await revision()
        batch = await changes(since)
        for change in batch:
            yield change
            since = change.revision
        if not batch:
            since = max(since, top)
            await wait_past(since)


class Follower:
    def __init__(
        self, poll: Callable[[int], Awaitable[int]], *, fallback: float, retry: float = 1.0
    ) -> None:
        """``poll(since)`` returns the newest revision, waiting a while for one past ``since``.

        A waiter re-checks the store itself after ``fallback`` seconds; a failed poll is
        retried after ``retry`` seconds.
        """
        self._poll = poll
        self._fallback = fallback
        self._seen = 0
        self._waiters = 0
        self._changed: asyncio.Condition | None = None
        # poll() itself waits for news, so passes run back to back while anyone waits
        self._loop = Loop(
            "store follower", self._poll_once, LoopSettings(interval=0.0, retry=retry), logger=log
        )

    async def saw(self, revision: int) -> None:
        """The store wrote ``revision``: wake whoever waits for it."""
        if revision > self._seen:
            self._seen = revision
            if self._changed is not None:
                async with self._changed:
                    self._changed.notify_all()

    async def wait_past(self, revision: int) -> None:
        """Until the store is past ``revision``, or the ``fallback`` time passes."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        self._waiters += 1
        try:
            self._loop.start()  # a no-op while it runs
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that arrives as the condition comes true (a write at shutdown), and the watcher
            # being stopped would never end
            async with self._changed:
                with suppress(TimeoutError):
                    async with asyncio.timeout(self._fallback):
                        await self._changed.wait_for(lambda: self._seen > revision)
        finally:
            self._waiters -= 1

    async def _poll_once(self) -> None:
        if self._waiters == 0:  # nobody waits: end the loop; the next waiter starts it
            await self._loop.stop()
            return
        await self.saw(await self._poll(self._seen))

    async def close(self) -> None:
        await self._loop.cancel()
