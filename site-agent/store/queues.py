"""The sync session's durable queues (tables ``outbox``, ``inbox``, ``snapshot_names``).

``outbox``: numbered facts for the hub besides statuses (the ``status`` table is its own
compacted queue): ``event``, ``operation`` (site-authored operation records) and
``telemetry`` batches. Each row takes its ``seq`` from the site's one fact counter
(:func:`~.database.next_seq`, the statuses' counter), so statuses and outbox rows go up in
one order. An operation that changed an object's intent ``holds`` hub changes to that
object until the hub acks it. A row goes when the hub acks its seq.

``inbox``: hub changes persisted before they are acked, applied in ``pos`` order and deleted
once applied (a crash in between applies them again: apply is idempotent). ``held`` marks a
change waiting behind a local operation the hub has not acked.

``snapshot_names``: the objects a snapshot in progress named; its last part queues a
``sweep`` that removes hub objects the snapshot did not name.

Counters (table ``counters``): ``applied_revision`` (the newest hub revision persisted in the
inbox, what the hello says), ``acked_seq`` (the newest fact seq the hub acked), ``sent_seq``
(the newest fact seq ever sent), ``telemetry_shipped`` (the newest rollup time batched).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from atoll.jsonbody import JSON
from atoll.resources import Event, clip
from atoll.site_agent.store.database import Database, next_seq

COUNTED = frozenset({"outbox", "inbox", "journal", "ipam", "samples", "rollups", "objects"})
FactType = Literal["event", "operation", "telemetry"]
Counter = Literal["applied_revision", "acked_seq", "sent_seq", "telemetry_shipped", "status_seq"]


@dataclass(frozen=True)
class QueuedFact:
    """One outbox row: a fact waiting for the hub's ack."""

    seq: int
    type: FactType
    body: JSON


@dataclass(frozen=True)
class Operation:
    """A site-authored operation record (see PROTOCOL.md), written with the change it
    records; ``holds``: it changed the object's intent, so hub changes to it wait."""

    kind: str
    obj_id: str
    body: JSON
    holds: bool = True


def event(kind: str, obj_id: str, reason: str, message: str, at: float) -> JSON:
    """An ``event`` fact's body (:class:`atoll.resources.Event`), its message cut to the
    bound the hub checks (:func:`atoll.resources.clip`): the hub refuses a longer one."""
    return Event(kind=kind, id=obj_id, reason=reason, message=clip(message), at=at).to_wire()


def add_operations(c: sqlite3.Connection, operations: Iterable[Operation], now: float) -> None:
    for op in operations:
        add_fact(c, "operation", op.body, kind=op.kind, obj_id=op.obj_id, holds=op.holds, now=now)


@dataclass(frozen=True)
class InboxItem:
    """One hub change, as persisted (``body``: the Desired's wire form, or None)."""

    revision: int
    op: str  # put, delete, or sweep (a snapshot's end)
    kind: str
    obj_id: str
    body: JSON | None = None
    override: bool = False
    pos: int = 0
    held: bool = False
    received: float = 0.0
    repair: bool = False  # anti-entropy's: taken whatever its revision (not stored)


def add_fact(
    c: sqlite3.Connection,
    type_: FactType,
    body: JSON,
    *,
    kind: str | None = None,
    obj_id: str | None = None,
    holds: bool = False,
    now: float,
) -> int:
    """Queue one fact inside the caller's transaction (with the write it tells of); its seq."""
    seq = next_seq(c)
    c.execute(
        "INSERT INTO outbox(seq, type, kind, obj_id, holds, body, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (seq, type_, kind, obj_id, int(holds), json.dumps(body), now),
    )
    return seq


class QueueTables(Database):
    # -- counters ----------------------------------------------------------------------
    def counter(self, name: Counter) -> int:
        row = self.conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def raise_counter(self, name: Counter, value: int) -> None:
        """Set a counter to ``value`` unless it is there already (counters never go back)."""
        with self.tx() as c:
            c.execute("UPDATE counters SET value = max(value, ?) WHERE name = ?", (value, name))

    # -- outbox ------------------------------------------------------------------------
    def queue_fact(
        self,
        type_: FactType,
        body: JSON,
        *,
        kind: str | None = None,
        obj_id: str | None = None,
        holds: bool = False,
    ) -> int:
        with self.tx() as c:
            return add_fact(c, type_, body, kind=kind, obj_id=obj_id, holds=holds, now=self.clock())

    def queue_facts(
        self,
        facts: list[tuple[FactType, JSON]],
        *,
        kind: str | None = None,
        obj_id: str | None = None,
    ) -> list[int]:
        """Several facts about one object (holding nothing), in one transaction; their seqs."""
        with self.tx() as c:
            return [
                add_fact(c, type_, body, kind=kind, obj_id=obj_id, now=self.clock())
                for type_, body in facts
            ]

    def outbox_after(self, seq: int, limit: int = 1000) -> list[QueuedFact]:
        rows = self.conn.execute(
            "SELECT seq, type, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [QueuedFact(int(r[0]), r[1], json.loads(r[2])) for r in rows]

    def outbox_acked(self, seq: int) -> int:
        """The hub recorded every fact up to ``seq``: forget those rows; how many went."""
        with self.tx() as c:
            c.execute("UPDATE counters SET value = max(value, ?) WHERE name = 'acked_seq'", (seq,))
            return c.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount

    def holding(self, kind: str, obj_id: str) -> bool:
        """Whether a local change to the object waits for the hub's ack (hub changes wait)."""
        row = self.conn.execute(
            "SELECT 1 FROM outbox WHERE holds = 1 AND kind = ? AND obj_id = ? LIMIT 1",
            (kind, obj_id),
        ).fetchone()
        return row is not None

    def held_objects(self) -> set[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT DISTINCT kind, obj_id FROM outbox WHERE holds = 1"
        ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def pending_creates(self) -> set[tuple[str, str]]:
        """``(kind, id)`` of the objects whose ``create`` record the hub has not acked."""
        rows = self.conn.execute(
            "SELECT DISTINCT kind, obj_id FROM outbox WHERE type = 'operation'"
            " AND json_extract(body, '$.op') = 'create'"
        ).fetchall()
        return {(r[0], r[1]) for r in rows}

    # -- inbox -------------------------------------------------------------------------
    def inbox_put_changes(self, revision: int, items: Iterable[InboxItem]) -> list[InboxItem]:
        """Persist a ``changes`` frame and move the applied revision to ``revision``, in one
        transaction; the changes it took. A change at or below the revision already
        persisted is skipped (a redelivery), but not a ``repair``: anti-entropy's changes
        come at revisions the site has (a repair never moves the cursor), so each is taken
        unless the inbox has it already (a delete of the object, or a put of it at that
        revision or newer: the last check's repair, still waiting or held)."""
        with self.tx() as c:
            applied = _counter(c, "applied_revision")
            taken = [i for i in items if (not _queued(c, i) if i.repair else i.revision > applied)]
            _insert(c, taken, self.clock())
            if revision > applied:
                c.execute(
                    "UPDATE counters SET value = ? WHERE name = 'applied_revision'", (revision,)
                )
            return taken

    def inbox_put_snapshot(self, revision: int, items: Iterable[InboxItem], last: bool) -> None:
        """Persist one snapshot part; the last one queues the sweep and moves the applied
        revision (until then a reconnect asks for the snapshot again)."""
        now = self.clock()
        items = list(items)
        with self.tx() as c:
            c.execute("DELETE FROM snapshot_names WHERE revision != ?", (revision,))
            _insert(c, items, now)
            c.executemany(
                "INSERT OR REPLACE INTO snapshot_names(revision, kind, obj_id) VALUES (?, ?, ?)",
                [(revision, i.kind, i.obj_id) for i in items],
            )
            if last:
                _insert(c, [InboxItem(revision, "sweep", "", "")], now)
                c.execute(
                    "UPDATE counters SET value = ? WHERE name = 'applied_revision'", (revision,)
                )

    def inbox(self) -> list[InboxItem]:
        rows = self.conn.execute("SELECT * FROM inbox ORDER BY pos").fetchall()
        return [
            InboxItem(
                revision=r["revision"],
                op=r["op"],
                kind=r["kind"],
                obj_id=r["obj_id"],
                body=json.loads(r["body"]),
                override=bool(r["override"]),
                pos=r["pos"],
                held=bool(r["held"]),
                received=r["received"],
            )
            for r in rows
        ]

    def inbox_done(self, pos: int, event: JSON | None = None) -> None:
        """An inbox row applied (or given up, with the event that says why)."""
        with self.tx() as c:
            c.execute("DELETE FROM inbox WHERE pos = ?", (pos,))
            if event is not None:
                add_fact(
                    c, "event", event, kind=event["kind"], obj_id=event["id"], now=self.clock()
                )

    def inbox_hold(self, pos: int, event: JSON) -> None:
        """An inbox row waits behind a local change; the event says so (once)."""
        with self.tx() as c:
            c.execute("UPDATE inbox SET held = 1 WHERE pos = ?", (pos,))
            add_fact(c, "event", event, kind=event["kind"], obj_id=event["id"], now=self.clock())

    def snapshot_names(self, revision: int) -> set[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT kind, obj_id FROM snapshot_names WHERE revision = ?", (revision,)
        ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def clear_snapshot_names(self, revision: int) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM snapshot_names WHERE revision <= ?", (revision,))

    def table_count(self, table: str) -> int:
        if table not in COUNTED:
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _counter(c: sqlite3.Connection, name: Counter) -> int:
    row = c.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return 0 if row is None else int(row[0])


def _queued(c: sqlite3.Connection, item: InboxItem) -> bool:
    """Whether the inbox has ``item``'s change already (a delete of its object, or a put at
    its revision or newer)."""
    row = c.execute(
        "SELECT 1 FROM inbox WHERE op = ? AND kind = ? AND obj_id = ?"
        " AND (op = 'delete' OR revision >= ?) LIMIT 1",
        (item.op, item.kind, item.obj_id, item.revision),
    ).fetchone()
    return row is not None


def _insert(c: sqlite3.Connection, items: list[InboxItem], now: float) -> None:
    c.executemany(
        "INSERT INTO inbox(revision, op, kind, obj_id, body, override, received)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (i.revision, i.op, i.kind, i.obj_id, json.dumps(i.body), int(i.override), now)
            for i in items
        ],
    )
