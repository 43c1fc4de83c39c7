"""The sync session's durable queues (tables ``outbox`` and ``inbox``).

``outbox``: site-authored operation records waiting for the hub's ack (at-least-once up).
``inbox``: hub messages persisted before they are acked and applied (idempotent by
``msg_id``). Both are empty until the sync session uses them.
"""

from __future__ import annotations

import json

from atoll.jsonbody import JSON
from atoll.site_agent.store.database import Database

COUNTED = frozenset({"outbox", "inbox", "journal", "ipam", "samples", "rollups", "objects"})


class QueueTables(Database):
    def outbox_put(self, kind: str, obj_id: str, op: str, body: JSON) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO outbox(kind, obj_id, op, body, created) VALUES (?, ?, ?, ?, ?)",
                (kind, obj_id, op, json.dumps(body), self.clock()),
            )

    def table_count(self, table: str) -> int:
        if table not in COUNTED:
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
