"""What goes up: the site's facts in its own sequence order.

Two sources share one counter (:func:`atoll.site_agent.store.database.next_seq`):

- the ``status`` table, which is its own compacted queue: one row per object, the newest
  state with its seq (a status that changed three times while offline goes up once);
- the ``outbox``: events, operation records and telemetry batches, one row each.

:func:`facts_after` merges both after a seq, oldest first, as :class:`~atoll.sync.frames.Fact`
items. What the hub acks leaves the outbox (:meth:`LocalStore.outbox_acked`); statuses stay:
they are the observed table.
"""

from __future__ import annotations

from atoll.jsonbody import JSON
from atoll.site_agent.store import LocalStore, ObservedStatus
from atoll.sync.frames import Fact

BATCH = 200  # facts read at a time (a frame holds at most frames.MAX_ITEMS)


def status_body(status: ObservedStatus) -> JSON:
    """An observed status as :class:`atoll.resources.Observed` writes it on the wire."""
    body: JSON = {
        "kind": status.kind,
        "id": status.id,
        "seq": status.seq,
        "state": status.state,
        "message": status.message,
        "observed_generation": status.observed_generation,
        "facts": None,
    }
    if status.kind == "server":
        detail = status.detail
        body["facts"] = {
            "power_state": str(detail.get("power_state", "")),
            "restarts": int(detail.get("restarts", 0)),
        }
    return body


def facts_after_blocking(store: LocalStore, seq: int, limit: int = BATCH) -> list[Fact]:
    """Facts after ``seq`` (statuses and outbox rows merged by seq), at most ``limit``."""
    statuses = store.statuses_after(seq, limit)
    queued = store.outbox_after(seq, limit)
    merged = [Fact(seq=s.seq, type="status", body=status_body(s)) for s in statuses]
    merged += [Fact(seq=q.seq, type=q.type, body=q.body) for q in queued]
    merged.sort(key=lambda f: f.seq)
    return merged[:limit]
