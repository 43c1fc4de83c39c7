"""Token revocation, kept as ordinary store objects so sync can carry them to sites.

One object per revocation, kind ``revocation``, key ``<subject>:<value>`` (``token:<id>``,
``user:<name>``, ``project:<name>``, ``application_credential:<id>``), value
``{"subject", "value", "revoked_at", "prune_after"}``. Every hub process keeps the whole
list in memory (:class:`~atoll.tokens.RevocationList`), loaded at start and followed
through the store's watch, so checking a token costs no store read, and a revocation made
by another hub process sharing the store (etcd) takes effect here as soon as the watch
delivers it.

No token lives longer than the hub's token TTL, so a revocation is useless once that long
has passed since it was made: :meth:`Revocations.prune` deletes those (``prune_after``), and
the list stays as small as the tokens it guards against.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import cast

from atoll.background import FailureLog, Loop, LoopSettings
from atoll.errors import NotFound, StaleRevision
from atoll.hub.store.base import Change, ListQuery, Store
from atoll.jsonbody import JSON
from atoll.tokens import REVOCATION_SUBJECTS, Claims, RevocationList, RevocationSubject

log = logging.getLogger(__name__)

KIND = "revocation"


def revocation_key(subject: RevocationSubject, value: str) -> str:
    return f"{subject}:{value}"


class Revocations:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float],
        max_token_ttl: float = 86400.0,
        prune_every: float = 300.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = max_token_ttl
        self._pruner = Loop(
            "pruning revocations",
            self._prune_pass,
            LoopSettings(interval=prune_every, initial_delay=prune_every),
            logger=log,
        )
        self._list = RevocationList()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        since = await self._load()
        self._task = asyncio.create_task(self._follow(since), name="revocation-watch")
        self._pruner.start()

    async def stop(self) -> None:
        await self._pruner.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    async def _prune_pass(self) -> None:
        await self.prune()

    async def prune(self) -> int:
        """Delete revocations no live token can need any more; how many went."""
        now, gone = self._clock(), 0
        marker: str | None = None
        while True:
            page = await self._store.list(ListQuery(KIND, limit=1000, marker=marker))
            for record in page.items:
                if record.value.get("prune_after", now + 1) <= now:
                    with contextlib.suppress(NotFound, StaleRevision):
                        await self._store.delete(KIND, record.key, expect_revision=record.revision)
                        self._apply_change(Change(0, KIND, record.key, "delete", None))
                        gone += 1
            if page.next_marker is None:
                return gone
            marker = page.next_marker

    async def _load(self) -> int:
        since = await self._store.revision()
        fresh = RevocationList()
        marker: str | None = None
        while True:
            page = await self._store.list(ListQuery(KIND, limit=1000, marker=marker))
            for record in page.items:
                fresh.add_entry(record.value)
            if page.next_marker is None:
                break
            marker = page.next_marker
        self._list = fresh
        return since

    async def _follow(self, since: int) -> None:
        # Not an atoll.background.Loop: its one "pass" (the watch stream) never ends, so
        # recovery shows as the first change after a failure. Same log-once rule, though.
        health = FailureLog("following revocations through the store's watch", log)
        while True:
            try:
                async for change in self._store.watch(since, kind=KIND):
                    since = change.revision
                    self._apply_change(change)
                    health.succeeded()
            except Exception as exc:
                health.failed(exc)
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    since = await self._load()

    def _apply_change(self, change: Change) -> None:
        if change.value is None:
            subject, _, value = change.key.partition(":")
            if subject in REVOCATION_SUBJECTS:
                self._list.discard(cast(RevocationSubject, subject), value)
            return
        self._list.add_entry(change.value)

    async def revoke(self, subject: RevocationSubject, value: str) -> JSON:
        """Revoke now; effective in this process at once, elsewhere through the store."""
        now = self._clock()
        entry: JSON = {
            "subject": subject,
            "value": value,
            "revoked_at": now,
            "prune_after": now + self._ttl,
        }
        await self._store.put(KIND, revocation_key(subject, value), entry)
        self._list.add(subject, value, entry["revoked_at"])
        log.info("revoked %s %s", subject, value if subject != "token" else value[:8] + "...")
        return entry

    def is_revoked(self, claims: Claims) -> bool:
        return self._list.is_revoked(claims)
