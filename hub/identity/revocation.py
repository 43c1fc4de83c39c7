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

A token revoked by id (:meth:`Revocations.revoke_token`: sign-out, ``DELETE`` of one's
token) records its user (``"user"``), and one user keeps at most ``per_user`` of those:
revoking one more revokes the user ("every token issued until now", one record) and deletes
theirs, which it covers. Without that bound one project member, exchanging its token for a
new one and revoking that, two cheap requests a record, grew the list every hub process
holds and every site fetches every few seconds without end.
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
        per_user: int = 0,
    ) -> None:
        """``per_user``: tokens of one user revoked by id kept at once (0: no limit)."""
        self._store = store
        self._per_user = per_user
        self._token_user: dict[str, str] = {}  # token id revoked by id: its user
        self._user_tokens: dict[str, set[str]] = {}  # user: their tokens revoked by id
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
        self._token_user.clear()
        self._user_tokens.clear()
        marker: str | None = None
        while True:
            page = await self._store.list(ListQuery(KIND, limit=1000, marker=marker))
            for record in page.items:
                fresh.add_entry(record.value)
                self._count(record.value)
            if page.next_marker is None:
                break
            marker = page.next_marker
        self._list = fresh
        return since

    def _count(self, entry: JSON) -> None:
        token, user = entry.get("value"), entry.get("user")
        if entry.get("subject") == "token" and isinstance(token, str) and isinstance(user, str):
            self._token_user[token] = user
            self._user_tokens.setdefault(user, set()).add(token)

    def _uncount(self, token: str) -> None:
        user = self._token_user.pop(token, None)
        held = self._user_tokens.get(user, set()) if user is not None else set()
        held.discard(token)
        if user is not None and not held:
            self._user_tokens.pop(user, None)

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
            if subject == "token":
                self._uncount(value)
            return
        self._list.add_entry(change.value)
        self._count(change.value)

    async def revoke_token(self, token_id: str, user: str) -> None:
        """Revoke one of ``user``'s tokens; if they have ``per_user`` revoked by id already,
        revoke the user instead (every token issued until now) and drop those records."""
        held = self._user_tokens.get(user, set()) - {token_id}
        if self._per_user <= 0 or len(held) < self._per_user:
            await self.revoke("token", token_id, user=user)
            return
        await self.revoke("user", user)
        log.info("user %s revoked %d tokens one by one: every token of theirs revoked at once",
                 user, len(held) + 1)  # fmt: skip
        for token in held:
            with contextlib.suppress(NotFound):
                await self._store.delete(KIND, revocation_key("token", token))
            self._list.discard("token", token)
            self._uncount(token)

    async def revoke(self, subject: RevocationSubject, value: str, user: str | None = None) -> JSON:
        """Revoke now; effective in this process at once, elsewhere through the store.
        ``user``: a token's user, recorded (see :meth:`revoke_token`)."""
        now = self._clock()
        entry: JSON = {
            "subject": subject,
            "value": value,
            "revoked_at": now,
            "prune_after": now + self._ttl,
        }
        if user is not None:
            entry["user"] = user
        await self._store.put(KIND, revocation_key(subject, value), entry)
        self._list.add(subject, value, entry["revoked_at"])
        self._count(entry)
        log.info("revoked %s %s", subject, value if subject != "token" else value[:8] + "...")
        return entry

    def is_revoked(self, claims: Claims) -> bool:
        return self._list.is_revoked(claims)
