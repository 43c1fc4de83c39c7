"""One poller per store that wakes every ``watch`` when the store's revision moves.

A hub may have many watchers at once (one per syncing site). Polling the backend once per
watcher would cost a query (SQLite) or a worker thread and a watch stream (etcd) each; a
:class:`Follower` runs one poll loop while anyone is waiting, and wakes all waiters whose
revision it has passed. The store also reports its own writes (:meth:`Follower.saw`), so local
changes wake watchers at once. Waiters give up after ``fallback`` seconds and re-check the
store, so a watcher makes progress even if the poll loop fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from atoll.errors import AtollError

log = logging.getLogger(__name__)


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
        self._retry = retry
        self._seen = 0
        self._waiters = 0
        self._changed: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None

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
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._follow(), name="store-follower")
            async with self._changed:
                with suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self._seen > revision), self._fallback
                    )
        finally:
            self._waiters -= 1

    async def _follow(self) -> None:
        while self._waiters > 0:
            try:
                revision = await self._poll(self._seen)
            except AtollError as exc:
                log.debug("store follower: %s; retrying in %gs", exc, self._retry)
                await asyncio.sleep(self._retry)
                continue
            except Exception:  # a bug: say so, keep the waiters' fallback polling working
                log.exception("store follower failed; watchers fall back to polling")
                return
            await self.saw(revision)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
