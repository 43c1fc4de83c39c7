"""Facts from a site's outbox, recorded once per (site, seq) however often they arrive.

- ``status``: an :class:`atoll.resources.Observed`, kept as the newest per object (kind
  ``site_status``, key ``<site>/<kind>/<id>``): a fact at or below the stored one's
  ``fact_seq`` changes nothing.
- ``event``: kind ``site_event``, key ``<site>/<seq>``, created once.
- ``operation``: :func:`atoll.hub.sync.operations.record_operation` (adopt or conflict).
- ``telemetry``: counted, and its points kept by the hub's time-series keeper
  (:mod:`atoll.hub.telemetry.keeper`), outside the revisioned store: telemetry never bumps
  a revision. A batch delivered twice replaces its own points.

A fact whose body is not valid for its type is not dropped: it is kept as an event with
reason ``refused_fact`` and the problems, and acknowledged, so one bad record cannot stop a
site's outbox.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from atoll.errors import InvalidInput, NotFound, StaleRevision
from atoll.hub.sites import intent
from atoll.hub.store.base import Store
from atoll.hub.sync.operations import record_operation
from atoll.hub.telemetry.keeper import TelemetryKeeper
from atoll.jsonbody import JSON
from atoll.resources import Observed
from atoll.sync.frames import Fact

log = logging.getLogger(__name__)


@dataclass
class Recorded:
    """What one facts frame did: the newest seq now recorded, and counts by outcome."""

    acked_seq: int
    telemetry: int = 0
    conflicts: int = 0


async def record_facts(
    store: Store,
    telemetry: TelemetryKeeper,
    site: JSON,
    facts: tuple[Fact, ...],
    acked_seq: int,
    now: str,
) -> Recorded:
    """Record every fact above ``acked_seq`` (in order)."""
    done = Recorded(acked_seq)
    for fact in facts:
        if fact.seq <= done.acked_seq:
            continue  # sent again after a reconnect: recorded already
        try:
            if fact.type == "status":
                await _status(store, site, fact)
            elif fact.type == "event":
                await _once(store, intent.SITE_EVENT, site, fact.seq, {"event": fact.body})
            elif fact.type == "operation":
                outcome = await record_operation(store, site, fact.seq, fact.body, now)
                done.conflicts += outcome == "conflict"
            else:
                await telemetry.ingest(site["id"], fact.body)
                done.telemetry += 1
        except InvalidInput as exc:
            problems = "; ".join(f"{p.where}: {p.what}" for p in exc.problems) or exc.message
            log.warning("site %s fact %d (%s) refused: %s", site["name"], fact.seq, fact.type,
                        problems)  # fmt: skip
            body = {"reason": "refused_fact", "type": fact.type, "message": problems,
                    "body": fact.body}  # fmt: skip
            await _once(store, intent.SITE_EVENT, site, fact.seq, {"event": body})
        done.acked_seq = fact.seq
    return done


async def _status(store: Store, site: JSON, fact: Fact) -> None:
    observed = Observed.from_wire(fact.body, where="body")
    key = intent.object_key(site["id"], observed.kind, observed.id)
    value = {**observed.to_wire(), "site_id": site["id"], "fact_seq": fact.seq}
    for _ in range(10):
        try:
            current = await store.get(intent.SITE_STATUS, key)
        except NotFound:
            current = None
        if current is not None and current.value.get("fact_seq", 0) >= fact.seq:
            return
        try:
            expect = current.revision if current is not None else 0
            await store.put(intent.SITE_STATUS, key, value, expect_revision=expect)
            return
        except StaleRevision:
            continue


async def _once(store: Store, kind: str, site: JSON, seq: int, value: JSON) -> None:
    stored = {**value, "site_id": site["id"], "seq": seq}
    with contextlib.suppress(StaleRevision):  # recorded before
        await store.put(kind, intent.fact_key(site["id"], seq), stored, expect_revision=0)
