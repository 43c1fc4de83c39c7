"""What the hub records of a site's facts is bounded by their models, their size and a
per-site budget of events; a fact that breaks them is refused alone, kept as a
``refused_fact`` event (bounded too) and acknowledged, and the facts after it go on.

Unit tests of :func:`atoll.hub.sync.facts.record_facts` on the memory store; the running
hub's end is ``tests/security/test_site_facts.py``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest

from atoll import ids
from atoll.hub.sites import intent
from atoll.hub.store.base import ListQuery, Store
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.query import list_all
from atoll.hub.store.sqlite import SQLiteStore
from atoll.hub.sync.facts import EVIDENCE, FactBudget, forget_statuses, record_facts
from atoll.hub.sync.operations import RECOUNT_AFTER, ObjectBudget
from atoll.hub.telemetry.keeper import FIELDS, TelemetryKeeper
from atoll.jsonbody import JSON
from atoll.resources import MAX_MESSAGE
from atoll.sync import codec
from atoll.sync.frames import MAX_BODY, MAX_POINTS, Fact

NOW = 1_899_999_960.0  # a whole minute: a site's telemetry points are on one
SITE: JSON = {"id": ids.hub_id(), "name": "edge-1"}
SERVER = ids.hub_id()


def event(reason: str = "error", message: str = "no disk", **more: Any) -> JSON:
    return {"kind": "server", "id": SERVER, "reason": reason, "message": message, "at": NOW,
            **more}  # fmt: skip


def point(metric: str = "host_cpu_seconds_total", labels: Any = None, ts: float = NOW - 60,
          count: Any = 6) -> list[Any]:  # fmt: skip
    return [metric, {} if labels is None else labels, ts, 1.0, 1.0, 1.0, count]


def telemetry(*points: list[Any]) -> JSON:
    return {"step": 60, "fields": FIELDS, "points": list(points)}


def status(message: str = "", **more: Any) -> JSON:
    return {"kind": "server", "id": SERVER, "seq": 1, "state": "ERROR", "message": message,
            **more}  # fmt: skip


class Hub:
    """The hub's recording end for one site: a store, a keeper, the site's event budget."""

    def __init__(
        self,
        event_limit: int = 1000,
        store: Store | None = None,
        operation_limit: int = 1000,
        object_limit: int = 5000,
    ) -> None:
        self.store = store or MemoryStore()
        self.keeper = TelemetryKeeper(None, 86400.0, lambda: NOW)
        self.events = FactBudget(event_limit)
        self.operations = FactBudget(operation_limit, intent.SITE_OPERATION)
        self.now = 0.0  # the sessions' monotonic clock
        self.objects = ObjectBudget(object_limit, clock=lambda: self.now)
        self.acked = 0

    async def place(self, kind: str = "server", object_id: str = SERVER) -> str:
        """Place an object at the site, as the API does (statuses are kept only of those)."""
        value = {"id": object_id, "site_id": SITE["id"], "kind": kind, "origin": "hub",
                 "desired": {"kind": kind, "spec": {}}}  # fmt: skip
        await self.store.put(intent.SITE_OBJECT, intent.object_key(SITE["id"], kind, object_id),
                             value)  # fmt: skip
        return object_id

    async def send(self, *bodies: tuple[str, JSON]) -> Any:
        facts = tuple(
            Fact(seq=self.acked + i, type=kind, body=body)  # type: ignore[arg-type]
            for i, (kind, body) in enumerate(bodies, 1)
        )
        done = await record_facts(self.store, self.keeper, SITE, facts, self.acked, "now",
                                  self.events, self.operations, self.objects)  # fmt: skip
        assert done.acked_seq == self.acked + len(bodies)  # every one acknowledged
        self.acked = done.acked_seq
        return done

    async def events_stored(self) -> dict[int, JSON]:
        prefix = intent.site_prefix(SITE["id"])
        found = await list_all(self.store, intent.SITE_EVENT, {}, key_prefix=prefix)
        return {r.value["seq"]: r.value["event"] for r in found}


async def test_an_event_is_kept_as_its_model_says() -> None:
    hub = Hub()
    done = await hub.send(("event", event(newer_field="kept")))
    assert done.refused == 0
    assert (await hub.events_stored())[1] == {**event(), "newer_field": "kept"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (event(message="x" * (MAX_MESSAGE + 1)), "body.message: must have at most 4096"),
        (event(message="\x1b[2J"), "body.message: must not contain control characters"),
        (event(reason="Not A Reason"), "body.reason: must be a snake_case reason"),
        (event(at=math.inf), "body.at: must be in 0..100000000000"),
        (event(at=math.nan), "body.at: must be in 0..100000000000"),
        ({"kind": "server", "id": SERVER, "reason": "error"}, "body.at: is required"),
        ({**event(), "id": "../../etc"}, "body.id: must be"),
        (event(padding="y" * 900_000), "body is 900"),  # F5: 900 KB of anything
    ],
)
async def test_an_event_out_of_shape_or_bounds_is_refused_alone(body: JSON, problem: str) -> None:
    hub = Hub()
    done = await hub.send(("event", body), ("event", event(reason="crashed")))
    assert done.refused == 1
    stored = await hub.events_stored()
    assert stored[1]["reason"] == "refused_fact" and stored[1]["type"] == "event"
    assert problem in stored[1]["message"], stored[1]["message"]
    assert stored[2] == event(reason="crashed")  # the fact after it is recorded
    assert codec.size(stored[1]) < 3 * EVIDENCE  # the refusal keeps an excerpt, not the body


async def test_a_refused_body_is_kept_whole_when_small_else_as_an_excerpt() -> None:
    hub = Hub()
    small = {"kind": 7}
    await hub.send(("event", small), ("event", event(padding="y" * 40_000)))
    stored = await hub.events_stored()
    assert stored[1]["body"] == small
    assert stored[2]["body"] is None and stored[2]["body_bytes"] > 40_000
    assert len(stored[2]["excerpt"]) <= EVIDENCE and stored[2]["excerpt"].startswith("{")


async def test_a_body_the_store_cannot_hold_is_refused_not_a_broken_session(
    tmp_path: Path,
) -> None:
    """NaN in a field the model does not know: JSON cannot hold it, so the store refuses it;
    the refusal must still be recorded (else the frame would fail at every reconnect)."""
    hub = Hub(store=SQLiteStore(tmp_path / "hub.db", durable=False))
    done = await hub.send(("event", event(newer=math.nan)), ("status", status(extra=math.inf)))
    assert done.refused == 2
    stored = await hub.events_stored()
    assert [e["reason"] for e in stored.values()] == ["refused_fact", "refused_fact"]
    assert "NaN" in stored[1]["excerpt"] and "Infinity" in stored[2]["excerpt"]


async def test_a_status_out_of_bounds_is_refused_and_does_not_stop_the_outbox() -> None:
    """The codec used to refuse a whole frame for one bad status: the site sent it again at
    every reconnect, and nothing after it was ever recorded."""
    hub = Hub()
    await hub.place()
    done = await hub.send(
        ("status", status(message="m" * (MAX_MESSAGE + 1))),
        ("status", status(state="running")),
        ("status", status(junk="z" * MAX_BODY["status"])),
        ("status", status(facts={"power_state": "x" * 33})),
        ("status", status(message="no disk")),
    )
    assert done.refused == 4
    stored = await hub.store.get(intent.SITE_STATUS, intent.object_key(SITE["id"], "server",
                                                                       SERVER))  # fmt: skip
    assert stored.value["fact_seq"] == 5 and stored.value["message"] == "no disk"
    problems = [e["message"] for e in (await hub.events_stored()).values()]
    assert "body.message: must have at most 4096 characters" in problems[0]
    assert "body.state: must be an UPPER_CASE state" in problems[1]
    assert f"over {MAX_BODY['status']}" in problems[2]
    assert "body.facts.power_state: must have at most 32 characters" in problems[3]


async def test_an_operation_over_its_size_is_refused_before_it_is_recorded() -> None:
    hub = Hub()
    body = {"op": "create", "kind": "network", "id": ids.hub_id(), "junk": "j" * (512 << 10)}
    done = await hub.send(("operation", body))
    assert done.refused == 1
    assert not (await hub.store.list(ListQuery(intent.SITE_OPERATION))).items
    assert "over 524288" in (await hub.events_stored())[1]["message"]


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ([point()] * (MAX_POINTS + 1), "at most 4000 points"),
        ([point(metric="Not-A-Metric")], "is not a metric name"),
        ([point(labels={f"l{i}": "v" for i in range(17)})], "at most 16 labels"),
        ([point(labels={"server": "v" * 257})], "its value at most 256"),
        ([point(labels={"server": {"deep": "x"}})], "labels are strings"),
        ([point(ts=NOW + 2 * 86400)], "in the future"),
        ([point(count=math.inf)], "is not [metric"),
        ([point(count=2**70)], "no metric name, labels or count"),
    ],
)
async def test_a_telemetry_batch_out_of_bounds_is_refused(bad: list[Any], problem: str) -> None:
    hub = Hub()
    done = await hub.send(("telemetry", telemetry(*bad)), ("telemetry", telemetry(point())))
    assert done.refused == 1 and done.telemetry == 1
    assert problem in (await hub.events_stored())[1]["message"]
    assert hub.keeper.ingested == 1  # only the good batch's point


async def test_new_series_beyond_the_limit_are_refused_until_the_retention_makes_room() -> None:
    hub = Hub()
    hub.keeper.series_limit = 3
    servers = [{"server": f"s{i}"} for i in range(5)]
    await hub.send(("telemetry", telemetry(*[point(labels=s) for s in servers[:2]])))
    done = await hub.send(("telemetry", telemetry(*[point(labels=s, ts=NOW - 120)
                                                    for s in servers])))  # fmt: skip
    assert done.refused == 1 and done.telemetry == 1
    message = (await hub.events_stored())[2]["message"]
    assert "2 points of 2 new series left out" in message and '{"server":"s3"}' in message
    assert hub.keeper.ingested == 5  # 2, then the 2 known and 1 new one
    hub.keeper.series_limit = 1  # lowered: the site's series still go on, no new one
    done = await hub.send(("telemetry", telemetry(*[point(labels=s, ts=NOW) for s in servers])))
    assert done.refused == 1 and hub.keeper.ingested == 8
    hub.keeper.clock = lambda: NOW + 86400 + 31  # every point is past the retention
    await hub.keeper.prune()
    done = await hub.send(("telemetry", telemetry(point(labels=servers[4], ts=NOW + 60))))
    assert done.refused == 0  # the room the retention made
    done = await hub.send(("telemetry", telemetry(point(labels=servers[0], ts=NOW + 60))))
    assert done.refused == 1 and [p.labels for p in await hub.keeper.latest()] == [servers[4]]


async def test_a_series_keeps_one_point_a_minute() -> None:
    """A point's time is a whole minute (the site's ring makes them so): one between two is
    left out and said, one sent again at its minute replaces itself, and one older than the
    retention is not kept (nor said: the prune would drop it)."""
    hub = Hub()
    between = [point(ts=NOW - 60 + 0.5 * i) for i in range(1, 100)]
    done = await hub.send(("telemetry", telemetry(point(ts=NOW - 60), *between)))
    assert done.refused == 1 and done.telemetry == 1 and hub.keeper.ingested == 1
    message = (await hub.events_stored())[1]["message"]
    assert "99 points left out: their time is not a whole minute" in message
    assert f"host_cpu_seconds_total{{}} at {NOW - 59.5!r}" in message
    old = point(ts=NOW - 86400 - 60)
    done = await hub.send(("telemetry", telemetry(point(ts=NOW - 60), point(ts=NOW), old)))
    assert done.refused == 0 and hub.keeper.ingested == 3
    found = await hub.keeper.query("host_cpu_seconds_total", 0, NOW, 1)
    assert [ts for ts, *_ in found[0].points] == [NOW - 60, NOW]


async def test_a_sites_events_are_kept_to_its_budget_oldest_first() -> None:
    hub = Hub(event_limit=5)
    await hub.send(*[("event", event(message=f"e{i}")) for i in range(1, 4)])
    assert sorted(await hub.events_stored()) == [1, 2, 3]
    done = await hub.send(*[("event", event(message=f"e{i}")) for i in range(4, 13)])
    assert done.pruned == 7
    stored = await hub.events_stored()
    assert sorted(stored) == [8, 9, 10, 11, 12]  # the newest five
    # refusals count too (a bad batch; a status of an object never placed), and a new
    # session (its budget counts again) keeps to it as well
    hub.events = FactBudget(5)
    await hub.send(("telemetry", {"points": "nope"}), ("status", status()), ("event", event()))
    assert sorted(await hub.events_stored()) == [11, 12, 13, 14, 15]


async def test_the_refusals_of_a_frame_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub()
    with caplog.at_level(logging.WARNING, logger="atoll.hub.sync.facts"):
        await hub.send(*[("event", {"bad": i}) for i in range(50)], ("event", event()))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "50 facts refused" in lines[0] and "(and 49 more)" in lines[0]


async def test_a_sites_operation_records_are_kept_to_their_budget_oldest_first() -> None:
    """A site sends as many operation records as it likes (each up to 512 KiB): its newest
    ``site_operation_limit`` are kept; what they did to the objects stays."""
    hub = Hub(operation_limit=3)

    def made_here(i: int) -> JSON:
        made = ids.site_id(7)  # an id the site minted
        desired = {"kind": "network", "meta": {"id": made, "name": f"n{i}", "project_id": None},
                   "spec": {}, "origin": "site"}  # fmt: skip
        return {"op": "create", "kind": "network", "id": made, "base_hub_revision": None,
                "desired": desired, "at": 1.0, "actor": "fe"}  # fmt: skip

    done = await hub.send(*[("operation", made_here(i)) for i in range(1, 8)])
    assert done.pruned == 4
    kept = await list_all(hub.store, intent.SITE_OPERATION, {})
    assert sorted(r.value["seq"] for r in kept) == [5, 6, 7]
    adopted = await list_all(hub.store, intent.SITE_OBJECT, {})
    assert len(adopted) == 7  # the objects they made stay


# -- statuses: only of objects the hub knows at the site ---------------------------------------
def network_created_here(object_id: str) -> JSON:
    desired = {"kind": "network", "meta": {"id": object_id, "name": "made-here",
               "project_id": None}, "spec": {}, "origin": "site"}  # fmt: skip
    return {"op": "create", "kind": "network", "id": object_id, "base_hub_revision": None,
            "desired": desired, "at": 1.0, "actor": "fe"}  # fmt: skip


async def statuses_stored(hub: Hub) -> dict[str, JSON]:
    prefix = intent.site_prefix(SITE["id"])
    return {r.key: r.value for r in await list_all(hub.store, intent.SITE_STATUS, {},
                                                   key_prefix=prefix)}  # fmt: skip


async def test_a_status_of_an_object_the_hub_does_not_know_is_refused_and_not_kept() -> None:
    """Statuses had no budget: every made-up id was a new ``site_status`` record of up to
    32 KiB, without end."""
    hub = Hub()
    made_up = [ids.hub_id() for _ in range(50)]
    done = await hub.send(*[("status", {**status(), "id": i}) for i in made_up])
    assert done.refused == 50
    assert await statuses_stored(hub) == {}
    refusals = await hub.events_stored()
    assert [e["reason"] for e in refusals.values()] == ["refused_fact"] * 50
    assert f"server {made_up[7]}" in refusals[8]["message"]
    assert "neither placed at site edge-1 nor adopted from it" in refusals[8]["message"]
    # an object of the same id at another site, or of another kind here, is not this one
    await hub.place("volume", made_up[0])
    assert (await hub.send(("status", {**status(), "id": made_up[0]}))).refused == 1


async def test_a_status_after_the_create_the_hub_adopted_is_kept() -> None:
    """A site's facts go up in its seq order: the ``create`` operation of an object made at
    the site comes before that object's statuses, in the same frame or an earlier one."""
    hub = Hub()
    made = ids.site_id(7)
    body = {**status(), "kind": "network", "id": made, "state": "ACTIVE"}
    done = await hub.send(("operation", network_created_here(made)), ("status", body))
    assert done.refused == 0
    key = intent.object_key(SITE["id"], "network", made)
    assert (await statuses_stored(hub))[key]["state"] == "ACTIVE"


async def test_a_status_of_a_held_or_tombstoned_object_is_kept() -> None:
    hub = Hub()
    held, gone = await hub.place("server", ids.hub_id()), await hub.place("server", ids.hub_id())
    for object_id, change in ((held, {"conflict": ids.hub_id()}), (gone, {"desired": None})):
        key = intent.object_key(SITE["id"], "server", object_id)
        record = await hub.store.get(intent.SITE_OBJECT, key)
        await hub.store.put(intent.SITE_OBJECT, key, {**record.value, **change})
    done = await hub.send(
        ("status", {**status(), "id": held}), ("status", {**status(), "id": gone})
    )
    assert done.refused == 0 and len(await statuses_stored(hub)) == 2


async def test_a_status_of_an_object_the_hub_deleted_is_dropped_until_the_site_has_the_delete(
) -> None:  # fmt: skip
    """The site reports an object until it has heard of the delete and torn it down: those
    statuses are acknowledged, not kept and not refused. Once the site has the delete, the
    status record goes (:func:`forget_statuses`), and a status of it is refused."""
    hub = Hub()
    await hub.place()
    key = intent.object_key(SITE["id"], "server", SERVER)
    await hub.send(("status", status(message="running")))
    await hub.store.delete(intent.SITE_OBJECT, key)  # the NOC deletes it at the hub
    done = await hub.send(("status", status(message="still here")))
    assert done.refused == 0 and not await hub.events_stored()
    assert (await statuses_stored(hub))[key]["message"] == "running"  # not kept
    assert await forget_statuses(hub.store, [key]) == 1  # the site acked the delete
    assert await statuses_stored(hub) == {}
    assert (await hub.send(("status", status()))).refused == 1


async def test_forgetting_statuses_keeps_those_of_objects_placed_again() -> None:
    hub = Hub()
    await hub.place()
    await hub.send(("status", status()))
    key = intent.object_key(SITE["id"], "server", SERVER)
    assert await forget_statuses(hub.store, [key, intent.object_key(SITE["id"], "x", "y")]) == 0
    assert key in await statuses_stored(hub)


# -- objects made at the site: the hub adopts at most site_object_limit ----------------------
def operation(op: str, object_id: str, mtu: int = 1500, base: int | None = None) -> JSON:
    body = network_created_here(object_id)
    body["desired"]["spec"] = {"mtu": mtu}
    if op == "delete":
        body["desired"] = None
    return {**body, "op": op, "base_hub_revision": base}


async def made_here(hub: Hub) -> dict[str, JSON]:
    found = await list_all(hub.store, intent.SITE_OBJECT, {"origin": "site"},
                           key_prefix=intent.site_prefix(SITE["id"]))  # fmt: skip
    return {r.value["id"]: r.value for r in found}


async def test_creates_beyond_the_object_limit_are_refused_and_the_rest_goes_on() -> None:
    """Operation records were budgeted, but the objects their creates made stayed: a site
    could make the hub adopt (and keep, and send back down) objects without end."""
    hub = Hub(object_limit=3)
    placed = await hub.place()  # the hub's own objects at the site do not count
    made = [ids.site_id(7) for _ in range(5)]
    done = await hub.send(
        *[("operation", operation("create", i)) for i in made],
        ("event", event(message="after")),
        ("status", {**status(), "id": placed}),
    )
    assert done.refused == 2
    assert sorted(await made_here(hub)) == sorted(made[:3])
    stored = await hub.events_stored()
    for seq in (4, 5):  # refused alone, kept as refused_fact events naming limit and setting
        refusal = stored[seq]
        assert refusal["reason"] == "refused_fact" and refusal["type"] == "operation"
        assert f"network {made[seq - 1]} is not kept" in refusal["message"]
        assert "3 objects of its own" in refusal["message"]
        assert "[hub] site_object_limit" in refusal["message"]
        assert refusal["body"]["id"] == made[seq - 1]  # the operation, kept as evidence
    assert stored[6]["message"] == "after"  # the facts after them are recorded
    assert len(await statuses_stored(hub)) == 1
    ops = await list_all(hub.store, intent.SITE_OPERATION, {})
    assert sorted(r.value["seq"] for r in ops) == [1, 2, 3]  # the refused ones made none


async def test_at_the_object_limit_updates_and_deletes_go_on_and_deletes_make_room() -> None:
    hub = Hub(object_limit=2)
    first, second, third = ids.site_id(7), ids.site_id(7), ids.site_id(7)
    await hub.send(("operation", operation("create", first)),
                   ("operation", operation("create", second)))  # fmt: skip
    done = await hub.send(
        ("operation", operation("update", first, mtu=9000)),
        ("operation", operation("create", third)),
        ("operation", operation("delete", second)),
        ("operation", operation("create", third)),  # the site tries again: room now
    )
    assert done.refused == 1 and done.conflicts == 0
    adopted = await made_here(hub)
    assert sorted(adopted) == sorted([first, third])
    assert adopted[first]["desired"]["spec"]["mtu"] == 9000
    # a new session counts again, and finds it full
    hub.objects = ObjectBudget(2, clock=lambda: hub.now)
    assert (await hub.send(("operation", operation("create", ids.site_id(7))))).refused == 1
    # a create of what the hub has already adopts nothing new: not refused
    assert (await hub.send(("operation", operation("create", first, mtu=9000)))).refused == 0


async def test_the_object_budget_counts_once_and_reads_again_only_when_full_and_stale(
) -> None:  # fmt: skip
    """Counting the site's objects is a read of all of them: done once a session, then
    kept; a full count is read again (the NOC may have deleted some through the API) at
    most every RECOUNT_AFTER seconds, however many creates the site sends meanwhile."""
    hub = Hub(object_limit=2)
    reads = 0
    listing = hub.store.list

    async def counted(query: ListQuery) -> Any:
        nonlocal reads
        if query.kind == intent.SITE_OBJECT and query.filters == {"origin": "site"}:
            reads += 1
        return await listing(query)

    hub.store.list = counted  # type: ignore[method-assign]
    made = [ids.site_id(7) for _ in range(2)]
    await hub.send(*[("operation", operation("create", i)) for i in made])
    assert reads == 1
    done = await hub.send(*[("operation", operation("create", ids.site_id(7))) for _ in range(50)])
    assert done.refused == 50 and reads == 1
    # the NOC deletes one of them at the hub: the site is refused until the count is stale
    await hub.store.delete(intent.SITE_OBJECT, intent.object_key(SITE["id"], "network", made[0]))
    assert (await hub.send(("operation", operation("create", ids.site_id(7))))).refused == 1
    hub.now += RECOUNT_AFTER
    assert (await hub.send(("operation", operation("create", ids.site_id(7))))).refused == 0
    assert reads == 2 and len(await made_here(hub)) == 2


async def open_conflicts(hub: Hub) -> list[JSON]:
    return [r.value for r in await list_all(hub.store, intent.CONFLICT, {"state": "open"})]


async def test_changes_to_objects_the_hub_lacks_open_one_conflict_each_within_the_budget(
) -> None:  # fmt: skip
    """Before: each update (or action) of an id the hub had no record of opened a new
    conflict holding the site's version, however many: a site at its object limit went on
    filling the store with conflicts, and ten updates of one id made ten."""
    hub = Hub(object_limit=3)
    mine = ids.site_id(7)
    await hub.send(("operation", operation("create", mine)))
    gone = [ids.site_id(7) for _ in range(4)]  # deleted at the hub, changed at the site
    done = await hub.send(
        *[("operation", operation("update", gone[0], mtu=1400 + i)) for i in range(5)],
        *[("operation", operation("update", i)) for i in gone[1:]],
    )
    assert done.refused == 2 and done.conflicts == 6  # the third of them is one too many
    held = await open_conflicts(hub)
    assert sorted(c["object_id"] for c in held) == sorted(gone[:2])
    first = next(c for c in held if c["object_id"] == gone[0])
    assert first["site_desired"]["spec"]["mtu"] == 1404  # the site's latest change
    stored = await hub.events_stored()
    assert "site_object_limit" in stored[9]["message"]
    assert "held in conflicts" in stored[9]["message"]
    # a new session counts the conflicts with the objects: still full
    hub.objects = ObjectBudget(3, clock=lambda: hub.now)
    assert (await hub.send(("operation", operation("create", ids.site_id(7))))).refused == 1
