"""The inbox: hub intent persisted before it is acked, then applied in order.

:meth:`Inbox.persist` writes a ``changes`` frame (or a snapshot part) in one transaction
with the applied revision (:mod:`atoll.site_agent.store.queues`); the session acks after it.
:meth:`Inbox.apply_pending` (run by a :class:`~atoll.background.Loop`, kicked after every
persist and every fact ack) applies the rows in order through
:class:`~atoll.site_agent.hub_intent.HubIntent` and deletes each once applied, so a crash
between persist and apply applies it again at the next start (apply is idempotent).
A change at or below the applied revision is a redelivery and skipped, except an
anti-entropy **repair**: the hub sends repairs at a revision the site has, so they are taken
whatever it is, once (the inbox's own copy of one waiting is not doubled).

A change that needs objects the site does not have yet (a server before the flavor the hub
places with it) **waits** in the inbox, tried again after later changes, refused with an
event after :data:`WAIT_LIMIT`. A change to an object with a local change the hub has not
acked is **held**: it stays in
the inbox (later changes to that object wait behind it; others go on) and an event tells
the NOC. When the hub has acked the local change, the held change is settled: applied if it
agrees with what the site has (the hub adopted the site's change: only its revision is
recorded), else dropped with a ``superseded`` event: the hub saw the local change after it
sent this one, and answers with a conflict for the NOC (``--keep hub`` comes down again with
``override``) or with a newer change.
"""

from __future__ import annotations

import logging

from atoll.errors import InvalidInput
from atoll.jsonbody import JSON
from atoll.resources import Desired
from atoll.site_agent.hub_intent import HubIntent, HubOutcome
from atoll.site_agent.store import LocalStore
from atoll.site_agent.store.queues import InboxItem, event
from atoll.sync.frames import Change, Changes, Snapshot

log = logging.getLogger(__name__)
WAIT_LIMIT = 600.0  # seconds a change may wait for the objects it needs before it is refused


def item(change: Change) -> InboxItem:
    return InboxItem(
        change.revision,
        change.op,
        change.kind,
        change.id,
        change.object,
        change.override,
        repair=change.repair,
    )


class Inbox:
    def __init__(self, store: LocalStore, intent: HubIntent) -> None:
        self.store = store
        self.intent = intent
        self.clock = store.clock  # the clock the inbox rows were stamped with
        self.applied = 0  # changes applied since start
        self.repairs = 0  # of them sent by anti-entropy

    async def persist(self, frame: Changes | Snapshot) -> None:
        """Durable before the ack (the caller acks after this returns)."""
        items = [item(c) for c in frame.items]
        if isinstance(frame, Snapshot):
            await self.store.call(self.store.inbox_put_snapshot, frame.revision, items, frame.last)
        else:
            taken = await self.store.call(self.store.inbox_put_changes, frame.revision, items)
            self.repairs += sum(1 for i in taken if i.repair)

    async def apply_pending(self) -> None:
        """Apply every inbox row that is not held, in order; again while a pass applied
        something and left a row waiting for what it needs."""
        while await self._pass():
            pass

    async def _pass(self) -> bool:
        """One pass over the inbox; whether to run another."""
        waiting: set[tuple[str, str]] = set()  # objects with a row ahead that waits
        progress = False
        for row in await self.store.call(self.store.inbox):
            key = (row.kind, row.obj_id)
            if row.op == "sweep":
                await self._sweep(row)
                continue
            if key in waiting:
                continue
            outcome = await self._apply(row)
            if outcome.outcome == "waiting" and self.clock() - row.received > WAIT_LIMIT:
                outcome = HubOutcome("refused", f"{outcome.message} after {WAIT_LIMIT:g} s")
            if outcome.outcome in ("held", "waiting"):
                waiting.add(key)
                if outcome.outcome == "held" and not row.held:
                    await self.store.call(
                        self.store.inbox_hold, row.pos, self._event(row, "held", outcome)
                    )
                continue
            progress = True
            said = None
            if outcome.outcome in ("refused", "superseded"):
                log.warning(
                    "hub change %s %s (revision %d) %s: %s",
                    row.kind, row.obj_id, row.revision, outcome.outcome, outcome.message,
                )  # fmt: skip
                said = self._event(row, outcome.outcome, outcome)
            await self.store.call(self.store.inbox_done, row.pos, said)
            self.applied += 1
        return progress and bool(waiting)

    async def _apply(self, row: InboxItem) -> HubOutcome:
        settle = row.held  # held before: the local change it waited for is acked now?
        if row.op == "delete":
            return await self.intent.delete(
                row.kind, row.obj_id, override=row.override, settle=settle
            )
        try:
            intent = Desired.from_wire(row.body, where=f"the object of change {row.revision}")
        except InvalidInput as exc:
            problems = "; ".join(f"{p.where}: {p.what}" for p in exc.problems)
            return HubOutcome("refused", f"{exc.message} ({problems})")
        if (intent.kind, intent.meta.id) != (row.kind, row.obj_id):
            return HubOutcome("refused", "the object is not the one the change names")
        return await self.intent.apply(intent, override=row.override, settle=settle)

    async def _sweep(self, row: InboxItem) -> None:
        named = await self.store.call(self.store.snapshot_names, row.revision)
        gone = await self.intent.sweep(named)
        if gone:
            log.info("snapshot %d: removed %d objects the hub no longer has", row.revision,
                     len(gone))  # fmt: skip
        await self.store.call(self.store.clear_snapshot_names, row.revision)
        await self.store.call(self.store.inbox_done, row.pos)

    def _event(self, row: InboxItem, reason: str, outcome: HubOutcome) -> JSON:
        message = f"hub revision {row.revision} ({row.op}): {outcome.message}"
        return event(row.kind, row.obj_id, reason, message, self.clock())
