"""Observed status (table ``status``): what the site saw, numbered by its own sequence.

Each change of an object's status takes the next value of the site's ``status_seq`` counter
(never reused, even after the object is purged), so the hub asks for "everything after seq
N" and deduplicates by ``(site, seq)``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from atoll.jsonbody import JSON
from atoll.site_agent.store.database import Database, next_seq
from atoll.site_agent.store.queues import add_fact, event

# transitions the NOC hears of as events (beside the status itself): kind -> states
EVENTFUL = {"server": frozenset({"ERROR", "CRASHED"})}


@dataclass(frozen=True)
class ObservedStatus:
    kind: str
    id: str
    state: str
    observed_generation: int
    message: str
    detail: JSON
    updated: float
    seq: int = 0


class ObservedTable(Database):
    def set_status(
        self,
        kind: str,
        obj_id: str,
        state: str,
        *,
        observed_generation: int | None = None,
        message: str = "",
        detail: JSON | None = None,
    ) -> None:
        with self.tx() as c:
            row = c.execute(
                "SELECT observed_generation, detail, state, message FROM status"
                " WHERE kind = ? AND id = ?",
                (kind, obj_id),
            ).fetchone()
            gen = observed_generation
            if gen is None:
                gen = row[0] if row else 0
            merged = json.loads(row[1]) if row else {}
            merged.update(detail or {})
            if row is not None and (row[0], row[1], row[2], row[3]) == (
                gen, json.dumps(merged), state, message,
            ):  # fmt: skip
                return  # nothing changed: no new sequence number for the hub to fetch
            if state in EVENTFUL.get(kind, ()) and (row is None or row[2] != state):
                body = event(kind, obj_id, state.lower(), message, self.clock())
                add_fact(c, "event", body, kind=kind, obj_id=obj_id, now=self.clock())
            c.execute(
                "INSERT OR REPLACE INTO status(kind, id, state, observed_generation, message,"
                " detail, updated, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, obj_id, state, gen, message, json.dumps(merged), self.clock(),
                 next_seq(c)),
            )  # fmt: skip

    def get_status(self, kind: str, obj_id: str) -> ObservedStatus | None:
        row = self.conn.execute(
            "SELECT * FROM status WHERE kind = ? AND id = ?", (kind, obj_id)
        ).fetchone()
        return None if row is None else _status(row)

    def statuses(self, kind: str) -> dict[str, ObservedStatus]:
        rows = self.conn.execute("SELECT * FROM status WHERE kind = ?", (kind,)).fetchall()
        return {r["id"]: _status(r) for r in rows}

    def statuses_after(self, seq: int, limit: int = 1000) -> list[ObservedStatus]:
        """Statuses changed after site sequence ``seq``, oldest first, of the objects the
        hub keeps statuses of (what sync uploads): not a port's (its server's status says
        its address), nor that of an object the site made and never offered (the flavors
        it seeds; a local image): the hub refuses those, each a ``refused_fact`` event."""
        rows = self.conn.execute(
            "SELECT s.* FROM status AS s LEFT JOIN objects AS o ON o.kind = s.kind"
            " AND o.id = s.id WHERE s.seq > ? AND s.kind != 'port' AND NOT (o.id IS NOT NULL"
            " AND o.origin = 'site' AND o.offered = 0 AND o.hub_revision IS NULL)"
            " ORDER BY s.seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [_status(r) for r in rows]

    def last_seq(self) -> int:
        row = self.conn.execute("SELECT value FROM counters WHERE name = 'status_seq'").fetchone()
        return int(row[0])


def _status(row: sqlite3.Row) -> ObservedStatus:
    return ObservedStatus(
        kind=row["kind"],
        id=row["id"],
        state=row["state"],
        observed_generation=row["observed_generation"],
        message=row["message"],
        detail=json.loads(row["detail"]),
        updated=row["updated"],
        seq=row["seq"],
    )
