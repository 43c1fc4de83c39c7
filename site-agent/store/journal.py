"""The operation journal (table ``journal``): one row per driver action, intent first.

A row is written with ``state='intent'`` BEFORE the action and moved to ``done`` (or
``failed``/``recovered``) after it; :mod:`atoll.site_agent.journal` is how the reconciler
uses it and :mod:`atoll.site_agent.recovery` what it does with open intents after a crash.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from atoll.jsonbody import JSON
from atoll.site_agent.store.database import Database


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    kind: str
    obj_id: str
    action: str
    target: str
    args: JSON
    state: str
    error: str
    created: float


class JournalTable(Database):
    def journal_intent(self, kind: str, obj_id: str, action: str, target: str, args: JSON) -> int:
        with self.tx() as c:
            cur = c.execute(
                "INSERT INTO journal(kind, obj_id, action, target, args, state, created)"
                " VALUES (?, ?, ?, ?, ?, 'intent', ?)",
                (kind, obj_id, action, target, json.dumps(args), self.clock()),
            )
            return int(cur.lastrowid or 0)

    def journal_finish(self, seq: int, state: str, error: str = "") -> None:
        with self.tx() as c:
            c.execute(
                "UPDATE journal SET state = ?, error = ?, finished = ? WHERE seq = ?",
                (state, error, self.clock(), seq),
            )

    def journal_open(self) -> list[JournalEntry]:
        rows = self.conn.execute(
            "SELECT * FROM journal WHERE state = 'intent' ORDER BY seq"
        ).fetchall()
        return [_entry(r) for r in rows]

    def journal_for(self, kind: str, obj_id: str) -> list[JournalEntry]:
        rows = self.conn.execute(
            "SELECT * FROM journal WHERE kind = ? AND obj_id = ? ORDER BY seq", (kind, obj_id)
        ).fetchall()
        return [_entry(r) for r in rows]

    def journal_prune(self, older_than: float) -> int:
        with self.tx() as c:
            cur = c.execute(
                "DELETE FROM journal WHERE state != 'intent' AND finished < ?", (older_than,)
            )
            return cur.rowcount


def _entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        seq=row["seq"],
        kind=row["kind"],
        obj_id=row["obj_id"],
        action=row["action"],
        target=row["target"],
        args=json.loads(row["args"]),
        state=row["state"],
        error=row["error"],
        created=row["created"],
    )
