"""Facts from a site's outbox, recorded once per (site, seq) however often they arrive.

- ``status``: an :class:`atoll.resources.Observed`, kept as the newest per object (kind
  ``site_status``, key ``<site>/<kind>/<id>``): a fact at or below the stored one's
  ``fact_seq`` changes nothing. Only an object the hub knows at that site has one: a
  ``site_object`` at the same key (placed by the hub, or made at the site and adopted
  from its ``create`` operation, which comes before the object's statuses in the site's
  seq order; held by a conflict, or a tombstone, too). A status of any other object is
  refused (below), so a site stores at most one status per object the hub has there,
  whatever ids it makes up. An object the hub deleted keeps its status record until the
  site acknowledges the revision of the delete (:meth:`.session.Session.acked`, then
  :func:`forget_statuses`): until then the site, which may not have heard yet or is
  tearing it down, still reports it, and such a status is acknowledged and not kept;
  after that, the status record is gone for good, and a status of it is refused too.
- ``event``: an :class:`atoll.resources.Event`, kind ``site_event``, key ``<site>/<seq>``,
  created once. A site keeps at most ``event_limit`` events at the hub (``[hub]
  site_event_limit``): beyond it, recording events removes as many of its oldest
  (:class:`FactBudget`), so however many a site sends, its store share stays bounded.
- ``operation``: :func:`atoll.hub.sync.operations.record_operation` (adopt or conflict);
  kind ``site_operation``, key ``<site>/<seq>``. A site keeps at most ``[hub]
  site_operation_limit`` operation records the same way (what they did to the objects
  stays; the history of how goes, oldest first). What they did is bounded too: the hub
  adopts at most ``[hub] site_object_limit`` objects made at the site
  (:class:`~atoll.hub.sync.operations.ObjectBudget`); a ``create`` beyond it is refused
  (below), while updates and deletes of what it adopted go on, and deletes make room.
- ``telemetry``: counted, and its points kept by the hub's time-series keeper
  (:mod:`atoll.hub.telemetry.keeper`), outside the revisioned store: telemetry never bumps
  a revision. A batch delivered twice replaces its own points. A series keeps one point a
  minute (a point's time is a whole minute, as the site's ring makes them), and a site at
  most ``[hub] site_series_limit`` series there: points off the minute, and those of new
  series beyond the limit, are left out (a ``refused_fact`` event saying how many and
  naming some), the rest of the batch is kept, and the site's series go on.

Every body is checked before it is recorded: against its type's model and bounds, and
within :data:`atoll.sync.frames.MAX_BODY` bytes (a status: of an object the hub knows
there, its reason naming the kind and id if not; a ``create`` operation: within the site's
object budget, its reason naming the limit and its setting if not). A fact that fails is
not dropped: it is kept as an event with reason ``refused_fact``, the problems and the body
(an excerpt of it, when it is large or cannot be stored as it is), and acknowledged, so one
bad record cannot stop a site's outbox. The refusals of one frame are logged once, together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from typing import Any

from atoll.errors import InvalidInput, NotFound, OverLimit, StaleRevision
from atoll.hub.sites import intent
from atoll.hub.store.base import Delete, ListQuery, Store, encode_value
from atoll.hub.store.query import get_or_none, list_all
from atoll.hub.sync.operations import ObjectBudget, record_operation
from atoll.hub.telemetry.keeper import Ingested, TelemetryKeeper
from atoll.jsonbody import JSON
from atoll.resources import Event, Observed, clip
from atoll.sync import codec
from atoll.sync.frames import MAX_BODY, POINT_STEP, Fact

log = logging.getLogger(__name__)

EVIDENCE = 4096  # bytes of a refused body kept as it is; a larger one is kept as an excerpt
PRUNE_AT_ONCE = 100  # events one commit removes (etcd caps a commit at 128 writes)


@dataclasses.dataclass
class Recorded:
    """What one facts frame did: the newest seq now recorded, and counts by outcome."""

    acked_seq: int
    telemetry: int = 0
    conflicts: int = 0
    refused: int = 0
    pruned: int = 0  # the site's oldest events removed to keep within its budget


@dataclasses.dataclass
class FactBudget:
    """A site's records of ``kind`` at the hub (its events, its operation records), kept to
    ``limit``: its session counts them once, when it first records one (a read of at most
    ``limit`` and a frame's worth of records), then keeps the count as it records and
    removes them."""

    limit: int
    kind: str = intent.SITE_EVENT
    count: int | None = None

    async def recorded(self, store: Store, site: JSON, new: int) -> int:
        """``new`` records were just made: remove the oldest beyond the limit; how many."""
        if self.count is None:
            self.count = await _count(store, site, self.kind)  # the new ones included
        else:
            self.count += new
        gone = 0
        while self.count > self.limit:
            at_once = min(self.count - self.limit, PRUNE_AT_ONCE)
            removed = await _remove_oldest(store, site, self.kind, at_once)
            if not removed:  # another writer got there first: count again next time
                self.count = None
                break
            self.count -= removed
            gone += removed
        return gone


async def record_facts(
    store: Store,
    telemetry: TelemetryKeeper,
    site: JSON,
    facts: tuple[Fact, ...],
    acked_seq: int,
    now: str,
    events: FactBudget,
    operations: FactBudget | None = None,
    objects: ObjectBudget | None = None,
) -> Recorded:
    """Record every fact above ``acked_seq`` (in order); ``events`` and ``operations`` keep
    the site's records of each within its budget, ``objects`` what its operations make."""
    done = Recorded(acked_seq)
    refusals: list[str] = []
    new_events = new_operations = 0
    for fact in facts:
        if fact.seq <= done.acked_seq:
            continue  # sent again after a reconnect: recorded already
        try:
            _check_size(fact)
            if fact.type == "status":
                await _status(store, site, fact)
            elif fact.type == "event":
                event = Event.from_wire(fact.body, where="body").to_wire()
                new_events += await _once(
                    store, intent.SITE_EVENT, site, fact.seq, {"event": event}
                )
            elif fact.type == "operation":
                outcome = await record_operation(store, site, fact.seq, fact.body, now,
                                                 objects)  # fmt: skip
                done.conflicts += outcome == "conflict"
                new_operations += outcome != "duplicate"
            else:
                ingested = await telemetry.ingest(site["id"], fact.body)
                done.telemetry += 1
                if ingested.left_out:
                    raise OverLimit(_left_out(ingested, telemetry.series_limit))
        except (InvalidInput, OverLimit) as exc:
            problems = exc.message
            if isinstance(exc, InvalidInput) and exc.problems:
                problems = "; ".join(f"{p.where}: {p.what}" for p in exc.problems)
            refusals.append(f"{fact.seq} ({fact.type}): {problems}")
            body = {"reason": "refused_fact", "type": fact.type, "message": clip(problems),
                    **_evidence(fact.body)}  # fmt: skip
            new_events += await _once(store, intent.SITE_EVENT, site, fact.seq, {"event": body})
            done.refused += 1
        done.acked_seq = fact.seq
    if refusals:
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        log.warning("site %s: %d facts refused, kept as refused_fact events: %s%s",
                    site["name"], len(refusals), clip(refusals[0], 1024), more)  # fmt: skip
    if new_events:
        done.pruned = await events.recorded(store, site, new_events)
    if new_operations and operations is not None:
        done.pruned += await operations.recorded(store, site, new_operations)
    return done


def _left_out(ingested: Ingested, limit: int) -> str:
    """What a telemetry batch had left out, and why (the rest of it is kept)."""
    said = []
    if ingested.off_step:
        said.append(
            f"{ingested.off_step} points left out: their time is not a whole minute (a "
            f"multiple of {POINT_STEP} s; the hub keeps one point a series a minute), e.g. "
            f"{', '.join(ingested.off_step_examples)}"
        )
    if ingested.refused_points:
        said.append(
            f"{ingested.refused_points} points of {ingested.refused_series} new series left "
            f"out: the site is at its limit of {limit} series at the hub ([hub] "
            f"site_series_limit; the points of those go on), e.g. {', '.join(ingested.examples)}"
        )
    return "; ".join(said)


def _check_size(fact: Fact) -> None:
    limit = MAX_BODY.get(fact.type)
    if limit is None:
        return  # telemetry: bounded by its points (the keeper checks them)
    size = codec.size(fact.body)
    if size > limit:
        raise InvalidInput(f"a {fact.type} fact's body is {size} bytes, over {limit}")


def _evidence(body: Any) -> JSON:
    """A refused body as its event keeps it: whole when it is small and can be stored as it
    is, else its first :data:`EVIDENCE` characters as JSON text and its size."""
    with contextlib.suppress(InvalidInput):
        if len(encode_value("site_event", "body", body)) <= EVIDENCE:
            return {"body": body}
    text = json.dumps(body, default=repr, skipkeys=True)
    return {"body": None, "excerpt": clip(text, EVIDENCE), "body_bytes": codec.size(body)}


async def _count(store: Store, site: JSON, kind: str) -> int:
    return len(await list_all(store, kind, {}, key_prefix=intent.site_prefix(site["id"])))


async def _remove_oldest(store: Store, site: JSON, kind: str, n: int) -> int:
    """Remove the site's ``n`` oldest records of ``kind`` (keys are ``<site>/<seq,
    zero-padded>``: key order is age); how many went (0: another writer changed them)."""
    query = ListQuery(kind, limit=n, key_prefix=intent.site_prefix(site["id"]))
    oldest = (await store.list(query)).items
    if not oldest:
        return 0
    try:
        await store.commit([Delete(r.kind, r.key, r.revision) for r in oldest])
    except (StaleRevision, NotFound):
        return 0
    return len(oldest)


async def _status(store: Store, site: JSON, fact: Fact) -> None:
    """Keep the newest status of an object the hub knows at the site (see the module
    docstring): a placed or adopted one, or one it deleted that the site still reports."""
    observed = Observed.from_wire(fact.body, where="body")
    key = intent.object_key(site["id"], observed.kind, observed.id)
    value = {**observed.to_wire(), "site_id": site["id"], "fact_seq": fact.seq}
    for _ in range(10):
        current = await get_or_none(store, intent.SITE_STATUS, key)
        if await get_or_none(store, intent.SITE_OBJECT, key) is None:
            if current is not None:
                return  # deleted at the hub, not yet torn down at the site: nothing to keep
            raise InvalidInput(
                f"a status of {observed.kind} {observed.id}, which the hub has neither "
                f"placed at site {site['name']} nor adopted from it"
            )
        if current is not None and current.value.get("fact_seq", 0) >= fact.seq:
            return
        try:
            expect = current.revision if current is not None else 0
            await store.put(intent.SITE_STATUS, key, value, expect_revision=expect)
            return
        except StaleRevision:
            continue


async def _once(store: Store, kind: str, site: JSON, seq: int, value: JSON) -> bool:
    """Create the record of fact ``seq``; False if it was recorded before."""
    stored = {**value, "site_id": site["id"], "seq": seq}
    try:
        await store.put(kind, intent.fact_key(site["id"], seq), stored, expect_revision=0)
    except StaleRevision:
        return False
    return True


async def forget_statuses(store: Store, keys: list[str]) -> int:
    """The site has the deletes of the objects at ``keys``: remove their status records,
    unless an object is back at its key (placed again meanwhile); how many went."""
    gone = 0
    for key in keys:
        if await get_or_none(store, intent.SITE_OBJECT, key) is not None:
            continue
        with contextlib.suppress(NotFound):
            await store.delete(intent.SITE_STATUS, key)
            gone += 1
    return gone
