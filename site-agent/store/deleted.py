"""Deletes a hub restored from a backup must hear again (table ``deleted``).

When the site deletes an object it made and offered to the hub (a site id, and a ``create``
operation record went for it, or the hub adopted it: :attr:`.DesiredObject.offered_to_hub`),
the delete's transaction also keeps ``(kind, id, the object as it was, when)`` here
(:func:`remember_deleted`). A hub store put back from a backup taken before the delete still
has the object and would place it back; starting over on that store's history
(:mod:`atoll.site_agent.sync.history`) sends each remembered delete again and the inbox
does not make the object again from the snapshot (:mod:`atoll.site_agent.hub_intent`).
Hub-made objects are not remembered: the restored hub's intent wins.

Bounded (:class:`DeletesKept`, ``[hub] sync_deletes_kept``/``sync_deletes_kept_days``): at
most ``count`` rows, the newest, each kept ``seconds``; pruned in the transaction that adds
one and when they are read. An object made again with the same id (the hub's ``keep: hub``
of a conflict puts it back) is forgotten here.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from atoll.jsonbody import JSON
from atoll.site_agent.store.database import Database


@dataclass(frozen=True)
class DeletesKept:
    """How many remembered deletes are kept, and for how long (seconds)."""

    count: int = 10_000
    seconds: float = 90 * 86400.0


@dataclass(frozen=True)
class Deleted:
    """One remembered delete: ``desired`` is the object as it was (a Desired's wire form)."""

    kind: str
    obj_id: str
    desired: JSON
    at: float


def remember_deleted(
    c: sqlite3.Connection, kind: str, obj_id: str, desired: JSON, now: float, kept: DeletesKept
) -> None:
    """Keep one delete inside the caller's transaction (the delete's), pruning to ``kept``."""
    c.execute(
        "INSERT OR REPLACE INTO deleted(kind, obj_id, desired, deleted) VALUES (?, ?, ?, ?)",
        (kind, obj_id, json.dumps(desired), now),
    )
    prune(c, now, kept)


def prune(c: sqlite3.Connection, now: float, kept: DeletesKept) -> None:
    c.execute("DELETE FROM deleted WHERE deleted < ?", (now - kept.seconds,))
    c.execute(
        "DELETE FROM deleted WHERE rowid NOT IN"
        " (SELECT rowid FROM deleted ORDER BY deleted DESC, rowid DESC LIMIT ?)",
        (max(kept.count, 0),),
    )


def forget_deleted(c: sqlite3.Connection, kind: str, obj_id: str) -> None:
    """The object is made again (same id): its delete is no longer one to send again."""
    c.execute("DELETE FROM deleted WHERE kind = ? AND obj_id = ?", (kind, obj_id))


class DeletedTable(Database):
    deletes_kept = DeletesKept()  # the bounds (LocalStore takes them from the settings)

    def deleted_objects(self, c: sqlite3.Connection | None = None) -> list[Deleted]:
        """The remembered deletes, oldest first, pruned to the bounds first (inside the
        caller's transaction ``c`` if given)."""
        if c is None:
            with self.tx() as conn:
                return self.deleted_objects(conn)
        prune(c, self.clock(), self.deletes_kept)
        rows = c.execute(
            "SELECT kind, obj_id, desired, deleted FROM deleted ORDER BY deleted, rowid"
        ).fetchall()
        return [Deleted(r[0], r[1], json.loads(r[2]), float(r[3])) for r in rows]

    def was_deleted(self, kind: str, obj_id: str) -> bool:
        """Whether the site deleted this object it had offered to the hub (remembered)."""
        row = self.conn.execute(
            "SELECT 1 FROM deleted WHERE kind = ? AND obj_id = ?", (kind, obj_id)
        ).fetchone()
        return row is not None
