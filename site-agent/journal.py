"""The operation journal: intent written BEFORE each driver action, marked done after.

Every driver action the reconciler takes goes through :meth:`Journal.act`::

    intent row (state='intent')  ->  driver action  ->  row state='done'
                                                    \\-> row state='failed' (error kept)

If the agent dies between the two writes (``kill -9``, power loss), the row stays in
``intent``. At the next start :meth:`Journal.open_intents` returns those rows and the
reconciler resolves each one: for an object that is still desired it re-runs the same
idempotent step (finishing it), for one that is gone or being deleted it undoes the target
(so nothing half-made remains), then marks the row ``recovered``.

Driver actions are idempotent and named by deterministic targets (domain name from the
server id, tap name from the port id, overlay path from the server id), so finishing an
action twice makes one thing, never two.

``crash_hook`` is how tests simulate ``kill -9`` at any point: it is called with
``("intent", entry)`` after the intent is durable and ``("acted", entry)`` after the driver
action, and may raise :class:`SimulatedCrash` (a ``BaseException``, so nothing on the way
out catches it and marks the row).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from atoll.site_agent.store import JournalEntry, LocalStore

log = logging.getLogger(__name__)
T = TypeVar("T")
CrashHook = Callable[[str, int], None]


class SimulatedCrash(BaseException):
    """Raised by a test's crash hook: the agent 'dies' right here."""


class Journal:
    def __init__(self, store: LocalStore, crash_hook: CrashHook | None = None) -> None:
        self.store = store
        self.crash_hook = crash_hook

    async def act(
        self,
        kind: str,
        obj_id: str,
        action: str,
        target: str,
        fn: Callable[[], Awaitable[T]],
        args: dict[str, Any] | None = None,
    ) -> T:
        """Record the intent, run ``fn``, record the outcome; returns what ``fn`` returned."""
        seq = await self.store.call(
            self.store.journal_intent, kind, obj_id, action, target, args or {}
        )
        if self.crash_hook:
            self.crash_hook("intent", seq)
        try:
            result = await fn()
        except Exception as exc:
            await self.store.call(self.store.journal_finish, seq, "failed", str(exc)[:500])
            raise
        if self.crash_hook:
            self.crash_hook("acted", seq)
        await self.store.call(self.store.journal_finish, seq, "done")
        return result

    async def open_intents(self) -> list[JournalEntry]:
        return await self.store.call(self.store.journal_open)

    async def resolve(self, entry: JournalEntry, how: str) -> None:
        log.info(
            "journal: %s %s %s (%s) left in flight by a crash: %s",
            entry.kind,
            entry.obj_id,
            entry.action,
            entry.target,
            how,
        )
        await self.store.call(self.store.journal_finish, entry.seq, "recovered", how)
