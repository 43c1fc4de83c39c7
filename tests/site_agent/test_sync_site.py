"""The site end of sync against a small hub end over mTLS (``sync_hub.py``), on the drivers'
fakes and a real SQLite store: intent down (persisted, acked, applied once), facts up
(resent until acked, nothing lost), holds, operation records, bad frames and reconnects.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from atoll import certs, ids
from atoll.errors import Conflict
from atoll.jsonbody import JSON
from atoll.resources import MAX_MESSAGE, Event, Observed, clip
from atoll.site_agent.drivers.compute.base import DomainState
from atoll.site_agent.hub_intent import HubIntent
from atoll.site_agent.hub_link import HubLink
from atoll.site_agent.ring import BUCKETS, STEP, Ring
from atoll.site_agent.sync.facts import facts_after_blocking
from atoll.site_agent.sync.history import hub_history_blocking, welcome_history_blocking
from atoll.site_agent.sync.inbox import Inbox
from atoll.site_agent.sync.session import SyncClient, SyncSettings
from atoll.sync import digest
from atoll.sync.frames import Change, Changes, Digest, Snapshot
from tests.site_agent.site_harness import Site, lan, make_site
from tests.site_agent.sync_hub import SyncHub, sync_hub

PROJECT = ids.hub_id()
FAST = SyncSettings(reconnect_initial=0.05, reconnect_max=0.2, apply_interval=0.2)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await make_site(tmp_path)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def hub(tmp_path: Path, site: Site) -> AsyncIterator[SyncHub]:
    async with sync_hub(tmp_path, site.tmp) as h:
        yield h


@pytest.fixture
async def client(site: Site, hub: SyncHub) -> AsyncIterator[SyncClient]:
    link = HubLink.load(site.tmp)
    assert link is not None and link.site_id == hub.site_id
    c = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


def desired(kind: str, obj_id: str, name: str, spec: JSON, revision: int, **kw: Any) -> JSON:
    meta = {"id": obj_id, "name": name, "project_id": PROJECT}
    return {"kind": kind, "meta": meta, "spec": spec, "origin": kw.get("origin", "hub"),
            "hub_revision": revision}  # fmt: skip


def put(kind: str, obj_id: str, name: str, spec: JSON, revision: int, **kw: Any) -> Change:
    obj = desired(kind, obj_id, name, spec, revision, **kw)
    return Change(revision=revision, op="put", kind=kind, id=obj_id, object=obj,
                  override=kw.get("override", False))  # fmt: skip


async def volumes(site: Site) -> dict[str, JSON]:
    return {v["id"]: v for v in await site.resources.list_kind("volume")}


async def outbox(site: Site) -> list[JSON]:
    rows = await site.store.call(site.store.outbox_after, 0, 10_000)
    return [{"type": r.type, **r.body} for r in rows]


# -- intent down -----------------------------------------------------------------------------
async def test_changes_are_persisted_acked_applied_and_applied_once_when_redelivered(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    vol = ids.hub_id()
    frame = {"revision": 1, "items": (put("volume", vol, "data", {"size_gb": 1}, 1),)}
    await hub.send(Changes, **frame)
    await hub.until(lambda: hub.acked_revisions == [1])
    await hub.until(lambda: site.store.table_count("inbox") == 0)
    assert list(await volumes(site)) == [vol]
    await hub.drop()  # the hub did not record the ack, say: it sends the change again
    await hub.until(lambda: len(hub.hellos) == 2)
    assert hub.hellos[1].applied_revision == 1  # the site says where it is
    await hub.send(Changes, **frame)
    await hub.until(lambda: hub.acked_revisions == [1, 1])
    await hub.until(lambda: site.store.table_count("inbox") == 0)
    stored = await site.store.call(site.store.get_object, "volume", vol)
    assert list(await volumes(site)) == [vol] and stored.generation == 1
    assert (stored.origin, stored.hub_revision, stored.project_id) == ("hub", 1, PROJECT)


async def test_a_crash_between_persist_and_apply_applies_once_at_the_next_start(
    site: Site,
) -> None:
    vol = ids.hub_id()
    frame = Changes(v=1, n=2, revision=4, items=(put("volume", vol, "data", {"size_gb": 1}, 4),))
    inbox = Inbox(site.store, HubIntent(site.resources))
    await inbox.persist(frame)  # durable (and acked) ...
    await site.restart()  # ... and the agent is killed before it applied it
    assert await site.store.call(site.store.counter, "applied_revision") == 4
    inbox = Inbox(site.store, HubIntent(site.resources))
    await inbox.apply_pending()  # what the new agent does first
    await inbox.persist(frame)  # the hub redelivers it anyway
    await inbox.apply_pending()
    assert list(await volumes(site)) == [vol]
    assert site.store.table_count("inbox") == 0


async def test_a_snapshot_removes_what_the_hub_dropped_and_keeps_local_objects(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    keep, drop = ids.hub_id(), ids.hub_id()
    await hub.send(Changes, revision=2, items=(
        put("volume", keep, "keep", {"size_gb": 1}, 1),
        put("volume", drop, "drop", {"size_gb": 1}, 2),
    ))  # fmt: skip
    await hub.until(lambda: site.store.table_count("inbox") == 0 and hub.acked_revisions == [2])
    local = (await site.resources.create_volume({"name": "local", "size_gb": 1}))["id"]
    # the site was away past the hub's change log: a snapshot at revision 9, in two parts
    await hub.send(Snapshot, revision=9, items=(put("volume", keep, "keep", {"size_gb": 1}, 1),))
    await hub.send(Snapshot, revision=9, items=(), last=True)
    await hub.until(lambda: hub.acked_revisions == [2, 9, 9])
    await hub.until(lambda: site.store.table_count("inbox") == 0)
    stored = await site.store.call(site.store.get_object, "volume", drop)
    assert stored.deleting
    assert not (await site.store.call(site.store.get_object, "volume", keep)).deleting
    assert not (await site.store.call(site.store.get_object, "volume", local)).deleting
    assert await site.store.call(site.store.counter, "applied_revision") == 9


async def test_a_hub_of_another_history_gets_what_the_site_made_offered_again(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    """The hub's store was restored from a backup (PROTOCOL.md "History"): the site keeps
    what it made and the hub had adopted, offers it again with its statuses, and takes the
    restored hub's intent for the hub's own objects, whatever their revisions."""
    hub.history = "a" * 32
    await hub.until(lambda: len(hub.hellos) == 1)
    assert hub.hellos[0].history == ""  # a new site knows none: it takes the welcome's
    old, gone = ids.hub_id(), ids.hub_id()
    made = (await site.resources.create_volume({"name": "made-here", "size_gb": 1}))["id"]
    await hub.until(lambda: site.store.table_count("outbox") == 0)  # the hub has the create
    adopted = put("volume", made, "made-here", {"size_gb": 1}, 5, origin="site")
    adopted.object["meta"]["project_id"] = None
    await hub.send(Changes, revision=9, items=(
        put("volume", old, "old", {"size_gb": 1}, 4), adopted,
        put("volume", gone, "gone", {"size_gb": 1}, 9),
    ))  # fmt: skip
    await hub.until(lambda: site.store.table_count("inbox") == 0 and hub.acked_revisions == [9])
    assert (await site.store.call(site.store.get_object, "volume", made)).hub_revision == 5
    assert await site.store.call(hub_history_blocking, site.store) == "a" * 32
    seqs = set(hub.facts)

    hub.history = "b" * 32  # restored from a backup taken at its revision 4
    await hub.drop()
    await hub.until(lambda: len(hub.hellos) == 2)
    assert hub.hellos[1].history == "a" * 32 and hub.hellos[1].applied_revision == 9
    await hub.until(lambda: any(f.type == "operation" for s, f in hub.facts.items()
                                if s not in seqs))  # fmt: skip
    offered = [f.body for s, f in hub.facts.items() if s not in seqs and f.type == "operation"]
    assert [(o["op"], o["id"], o["actor"], o["base_hub_revision"]) for o in offered] == [
        ("create", made, "resync", None)
    ]
    assert offered[0]["desired"]["origin"] == "site"
    assert offered[0]["desired"].get("hub_revision") is None
    await hub.until(lambda: any(f.type == "status" and f.body["id"] == made
                                for s, f in hub.facts.items() if s not in seqs))  # fmt: skip
    # the restored hub's snapshot, at a revision below the site's: its intent wins
    await hub.send(Snapshot, revision=4, last=True, items=(
        put("volume", old, "old-renamed", {"size_gb": 2}, 4),
    ))  # fmt: skip
    await hub.until(lambda: site.store.table_count("inbox") == 0 and 4 in hub.acked_revisions)
    await hub.until(lambda: site.store.table_count("outbox") == 0)
    kept = await site.store.call(site.store.get_object, "volume", made)
    assert not kept.deleting and kept.origin == "site" and kept.hub_revision is None
    assert (await site.store.call(site.store.get_object, "volume", gone)).deleting
    restored = await site.store.call(site.store.get_object, "volume", old)
    assert (restored.name, restored.spec["size_gb"], restored.hub_revision) == ("old-renamed", 2, 4)
    assert await site.store.call(site.store.counter, "applied_revision") == 4
    assert await site.store.call(hub_history_blocking, site.store) == "b" * 32
    await hub.drop()  # the next session says the new history; nothing is offered again
    await hub.until(lambda: len(hub.hellos) == 3)
    assert (hub.hellos[2].history, hub.hellos[2].applied_revision) == ("b" * 32, 4)


async def test_a_snapshot_cut_before_its_last_part_is_asked_for_again(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    vol = ids.hub_id()
    await hub.send(Snapshot, revision=5, items=(put("volume", vol, "v", {"size_gb": 1}, 5),))
    await hub.until(lambda: hub.acked_revisions == [5])
    await hub.drop()
    await hub.until(lambda: len(hub.hellos) == 2)
    assert hub.hellos[1].applied_revision == 0  # not at 5 until the last part is in


# -- facts up --------------------------------------------------------------------------------
async def test_facts_are_resent_after_a_reconnect_until_acked_and_none_is_lost(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    hub.ack_facts = False  # the hub records nothing durable: it will ask again
    made = [
        (await site.resources.create_volume({"name": f"v{i}", "size_gb": 1}))["id"]
        for i in range(12)
    ]
    for vol in made[:4]:
        await site.resources.delete("volume", vol)
    last = await site.store.call(site.store.last_seq)
    await hub.until(lambda: max(hub.facts, default=0) == last)
    first_round = hub.received
    hub.facts.clear()  # the hub lost what it had not acked
    await hub.drop()
    await hub.until(lambda: len(hub.hellos) == 2)
    assert hub.hellos[1].sent_seq == last
    await hub.until(lambda: max(hub.facts, default=0) == last)
    assert hub.received > first_round  # sent again
    await hub.ack_all()
    await hub.until(lambda: site.store.table_count("outbox") == 0)
    operations = hub.of_type("operation")
    assert [(o.body["op"], o.body["id"]) for o in operations] == [
        *(("create", v) for v in made),
        *(("delete", v) for v in made[:4]),
    ]
    statuses = {f.body["id"]: f for f in hub.of_type("status")}
    assert set(made) <= set(statuses)  # each volume's newest status, once
    assert client.last_ack_at is not None
    figures = await client.figures()
    assert figures["connected"] and figures["outbox_depth"] == 0
    assert figures["acked_seq"] == last


async def test_the_window_bounds_unacked_frames(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    hub.ack_facts, hub.window = False, 1
    await hub.connection()
    await hub.drop()  # the next session has a window of one frame
    await hub.until(lambda: len(hub.hellos) == 2 and hub._ws is not None)
    for i in range(3):
        await site.resources.create_volume({"name": f"w{i}", "size_gb": 1})
        await hub.until(lambda: hub.received > 0)
    frames_before = hub.received
    await site.resources.create_volume({"name": "later", "size_gb": 1})
    last = await site.store.call(site.store.last_seq)
    assert max(hub.facts) < last  # the later facts wait for an ack ...
    assert hub.received == frames_before
    await hub.ack_all()
    await hub.until(lambda: max(hub.facts) == last)  # ... and go once it comes


# -- holds -----------------------------------------------------------------------------------
async def test_a_local_change_holds_the_hubs_change_until_acked_and_override_goes_through(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    vol, other = ids.hub_id(), ids.hub_id()
    await hub.send(Changes, revision=2, items=(
        put("volume", vol, "data", {"size_gb": 1}, 1),
        put("volume", other, "other", {"size_gb": 1}, 2),
    ))  # fmt: skip
    await hub.until(lambda: site.store.table_count("inbox") == 0 and hub.acked_revisions == [2])
    hub.ack_facts = False
    await site.resources.volume_action(vol, "extend", {"size_gb": 2})  # offline, say
    await hub.send(Changes, revision=4, items=(
        put("volume", vol, "data", {"size_gb": 5}, 3),
        put("volume", other, "other", {"size_gb": 3}, 4),
    ))  # fmt: skip
    await hub.until(lambda: (site.store.get_object("volume", other).spec["size_gb"]) == 3)
    await hub.until(lambda: any(e.body["reason"] == "held" for e in hub.of_type("event")))
    assert (await site.store.call(site.store.get_object, "volume", vol)).spec["size_gb"] == 2
    assert site.store.table_count("inbox") == 1  # kept, not applied
    # the hub records the local change: the held change is settled (it disagrees: dropped)
    await hub.ack_all()
    await hub.until(lambda: site.store.table_count("inbox") == 0)
    assert (await site.store.call(site.store.get_object, "volume", vol)).spec["size_gb"] == 2
    await hub.until(lambda: any(e.body["reason"] == "superseded" for e in hub.of_type("event")))
    # another local change, and the NOC keeps the hub's intent: override goes through
    await site.resources.volume_action(vol, "extend", {"size_gb": 3})
    await hub.send(Changes, revision=6, items=(
        put("volume", vol, "data", {"size_gb": 6}, 6, override=True),
    ))  # fmt: skip
    await hub.until(lambda: site.store.get_object("volume", vol).spec["size_gb"] == 6)


async def test_an_object_made_here_is_adopted_when_the_hub_sends_it_back(site: Site) -> None:
    made = await site.resources.create_volume({"name": "field", "size_gb": 1})
    stored = await site.store.call(site.store.get_object, "volume", made["id"])
    await site.store.call(site.store.outbox_acked, 10_000)  # the hub recorded the create
    intent = HubIntent(site.resources)
    back = desired("volume", made["id"], "field", {"size_gb": 1}, 7, origin="site")
    from atoll.resources import Desired

    outcome = await intent.apply(Desired.from_wire(back))
    assert outcome.outcome == "recorded"
    now = await site.store.call(site.store.get_object, "volume", made["id"])
    assert (now.origin, now.hub_revision, now.generation) == ("site", 7, stored.generation)


async def test_hub_updates_what_the_reconciler_can_act_on_and_refuses_the_rest(
    site: Site,
) -> None:
    from atoll.resources import Desired

    await site.resources.create_network({"name": "lan"})
    net = (await site.resources.show("network", "lan"))["id"]
    await site.store.call(site.store.outbox_acked, 10_000)
    intent = HubIntent(site.resources)
    srv = ids.hub_id()
    spec: JSON = {"flavor": "tiny", "image": "cirros", "nics": [{"network": net}]}
    first = await intent.apply(Desired.from_wire(desired("server", srv, "web", spec, 3)))
    assert first.outcome == "created"
    await site.converge()
    assert (await site.resources.show("server", srv))["status"] == "ACTIVE"
    stopped = {**spec, "power": "stopped"}
    done = await intent.apply(Desired.from_wire(desired("server", srv, "web", stopped, 4)))
    assert done.outcome == "updated"
    await site.converge()
    assert (await site.resources.show("server", srv))["status"] == "SHUTOFF"
    bigger = {**stopped, "flavor": "small"}
    refused = await intent.apply(Desired.from_wire(desired("server", srv, "web", bigger, 5)))
    assert refused.outcome == "refused" and "flavor" in refused.message
    again = await intent.apply(Desired.from_wire(desired("server", srv, "web", stopped, 4)))
    assert again.outcome == "unchanged"  # redelivered
    gone = await intent.delete("server", srv)
    assert gone.outcome == "deleted"


# -- operation records -----------------------------------------------------------------------
async def test_local_changes_write_operation_records_in_the_same_transaction(site: Site) -> None:
    made = await site.resources.create_volume({"name": "scratch", "size_gb": 1})
    await site.resources.volume_action(made["id"], "extend", {"size_gb": 2})
    await site.resources.delete("volume", made["id"])
    ops = [o for o in await outbox(site) if o["type"] == "operation"]
    assert [(o["op"], o.get("action")) for o in ops] == [
        ("create", None), ("action", "extend"), ("delete", None),
    ]  # fmt: skip
    assert ops[0]["desired"]["meta"]["id"] == made["id"] and ops[0]["actor"] == "site"
    assert ops[1]["desired"]["spec"]["size_gb"] == 2
    assert {o["base_hub_revision"] for o in ops} == {None}
    before = site.store.table_count("outbox")
    await site.resources.create_volume({"name": "again", "size_gb": 1})
    after_ok = site.store.table_count("outbox")
    with pytest.raises(Conflict):  # refused: neither the object nor its record is written
        await site.resources.create_volume({"name": "again", "size_gb": 1})
    assert site.store.table_count("outbox") == after_ok > before
    assert await site.store.call(site.store.holding, "volume", made["id"])


async def test_statuses_go_up_of_what_the_hub_knows_and_after_a_local_create(
    site: Site,
) -> None:
    """The hub keeps the statuses of what it placed or adopted at a site and refuses any
    other (a ``refused_fact`` event each): the seeded flavors' (never offered) and ports'
    went up at every join. A local create's status goes up after its create record."""
    seeded = await site.store.call(site.store.list_objects, "flavor")
    assert seeded and all(not f.offered_to_hub for f in seeded)
    net = ids.hub_id()
    await site.store.call(site.store.create_object, "network", net, "lan", {}, origin="hub",
                          hub_revision=1, project_id=PROJECT)  # fmt: skip
    await site.store.call(site.store.create_object, "port", ids.hub_id(), None,
                          {"network": net}, origin="hub", hub_revision=1)  # fmt: skip
    made = await site.resources.create_volume({"name": "scratch", "size_gb": 1})
    facts = await site.store.call(facts_after_blocking, site.store, 0)
    said = [(f.type, f.body.get("kind"), f.body.get("op")) for f in facts
            if f.type in ("status", "operation")]  # fmt: skip
    assert said == [("status", "network", None), ("operation", "volume", "create"),
                    ("status", "volume", None)]  # fmt: skip
    assert [f.body["id"] for f in facts if f.body.get("kind") == "volume"] == [made["id"]] * 2


async def test_a_server_error_is_an_event_for_the_noc(site: Site) -> None:
    await site.store.call(site.store.create_object, "server", ids.site_id(0), "x", {"name": "x"})
    sid = (await site.store.call(site.store.list_objects, "server"))[0].id
    await site.store.call(site.store.set_status, "server", sid, "ERROR", message="no disk")
    await site.store.call(site.store.set_status, "server", sid, "ERROR", message="no disk")
    events = [o for o in await outbox(site) if o["type"] == "event"]
    assert [(e["id"], e["reason"], e["message"]) for e in events] == [(sid, "error", "no disk")]


async def test_a_long_message_goes_up_cut_to_what_the_hub_takes(site: Site) -> None:
    """A driver's error can be long, or hold control characters: the event and the status
    the site sends say it within the bounds the hub checks (it would refuse them)."""
    sid = ids.hub_id()
    await site.store.call(site.store.create_object, "server", sid, "x", {"name": "x"},
                          origin="hub", hub_revision=1)  # fmt: skip
    said = "libvirt: \x1b[31m" + "no disk; " * 2000
    await site.store.call(site.store.set_status, "server", sid, "ERROR", message=said)
    facts = {f.type: f.body for f in await site.store.call(facts_after_blocking, site.store, 0)}
    assert set(facts) == {"event", "status"}
    assert Event.from_wire(facts["event"]).message == clip(said)
    assert Observed.from_wire(facts["status"]).message == clip(said)
    assert len(clip(said)) == MAX_MESSAGE
    kept = site.store.get_status("server", sid)
    assert kept is not None and kept.message == said  # the site's own copy: whole


# -- bad frames, liveness --------------------------------------------------------------------
async def test_a_garbage_frame_closes_the_session_and_the_site_comes_back(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    await hub.connection()
    await hub.send_raw(b"\xc1 not msgpack")
    await hub.until(lambda: len(hub.errors) == 1)
    assert hub.errors[0].code == "bad_frame"
    await hub.until(lambda: len(hub.hellos) == 2)  # reconnected, after a backoff
    assert "refused" in client.last_error or client.connected
    vol = ids.hub_id()
    await hub.send(Changes, revision=1, items=(put("volume", vol, "v", {"size_gb": 1}, 1),))
    await hub.until(lambda: site.store.table_count("inbox") == 0 and hub.acked_revisions == [1])


async def test_a_silent_hub_is_left_and_pinged_meanwhile(site: Site, tmp_path: Path) -> None:
    async with sync_hub(tmp_path / "quiet", site.tmp) as hub:
        hub.heartbeat_interval, hub.dead_after = 0.1, 0.6
        link = HubLink.load(site.tmp)
        assert link is not None
        client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
        await client.start()
        try:
            await hub.until(lambda: hub.pings >= 2)
            hub.send = _mute(hub)  # type: ignore[method-assign]  # the hub stops answering
            await hub.until(lambda: len(hub.hellos) >= 2)  # the site gave up and came back
        finally:
            await client.stop()


def _mute(hub: SyncHub) -> Any:
    async def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    return nothing


async def test_a_restart_by_the_reconciler_is_recorded_and_holds_nothing(site: Site) -> None:
    await lan(site)
    made = await site.resources.create_server(
        {"name": "web", "flavor": "tiny", "image": "cirros", "nics": [{"network": "lan"}]}
    )
    await site.converge()
    await site.store.call(site.store.outbox_acked, 10_000)  # the hub has what came before
    site.compute.crash(made["id"])
    await site.converge(1)
    facts = await outbox(site)
    restart = [f for f in facts if f["type"] == "operation"]
    assert [(r["op"], r.get("action"), r["actor"], r["id"]) for r in restart] == [
        ("action", "restart", "reconciler", made["id"])
    ]
    assert [(e["reason"], e["id"]) for e in facts if e["type"] == "event"] == [
        ("restarted", made["id"])
    ]
    assert not await site.store.call(site.store.holding, "server", made["id"])


async def test_a_server_whose_domain_is_gone_is_recreated_and_recorded(site: Site) -> None:
    """A VM destroyed behind the agent's back (connected or not) is built again by the
    reconciler, and the hub hears of it as an action/recreate (the hub puts it in the
    owning VNF instance's history: tests/hub/lcm)."""
    await lan(site)
    made = await site.resources.create_server(
        {"name": "web", "flavor": "tiny", "image": "cirros", "nics": [{"network": "lan"}]}
    )
    await site.converge()
    await site.store.call(site.store.outbox_acked, 10_000)  # the hub has what came before
    await site.compute.delete(made["id"])
    await site.converge(1)
    assert (await site.compute.get(made["id"])).state == DomainState.RUNNING
    facts = await outbox(site)
    ops = [
        (f["op"], f.get("action"), f["actor"], f["id"]) for f in facts if f["type"] == "operation"
    ]
    assert ops == [("action", "recreate", "reconciler", made["id"])]
    assert not await site.store.call(site.store.holding, "server", made["id"])


async def test_telemetry_batches_are_bounded_and_downsampled_when_catching_up(
    site: Site,
) -> None:
    ring = Ring(site.store, raw_retention=0, rollup_retention=86400)
    t0 = 28_333_333 * 60.0
    for minute in range(6 * 60):  # six hours of one sample a minute, two series
        rows = [("cpu", {"server": s}, float(minute)) for s in ("a", "b")]
        await site.store.call(ring.record_blocking, t0 + minute * 60, rows)
    now = t0 + 6 * 3600 + 120
    await site.store.call(ring.compact_blocking, now)
    shipped = await site.store.call(ring.ship_blocking, now)  # back after six hours
    batch = [f for f in await outbox(site) if f["type"] == "telemetry"]
    assert len(batch) == 1 and shipped == len(batch[0]["points"])
    assert batch[0]["step"] % STEP == 0 and batch[0]["step"] >= 36 * 60  # ~ten buckets
    assert shipped <= 2 * BUCKETS + 2
    assert sum(p[6] for p in batch[0]["points"]) == 2 * 6 * 60  # every sample counted once
    await site.store.call(ring.record_blocking, now + 30, [("cpu", {"server": "a"}, 1.0)])
    await site.store.call(ring.compact_blocking, now + 200)
    later = await site.store.call(ring.ship_blocking, now + 200)  # caught up: minute points
    assert later == 1
    batch = [f for f in await outbox(site) if f["type"] == "telemetry"]
    assert batch[-1]["step"] == STEP


async def test_a_hub_server_with_its_flavor_and_image_waits_for_the_image(site: Site) -> None:
    from atoll.resources import Desired

    await site.resources.create_network({"name": "lan"})
    net = (await site.resources.show("network", "lan"))["id"]
    intent = HubIntent(site.resources)
    flavor, image, srv = ids.hub_id(), ids.hub_id(), ids.hub_id()
    server_spec: JSON = {"flavor": flavor, "image": image, "nics": [{"network": net}]}
    placed = [  # as the hub places a server's dependencies with it
        desired("flavor", flavor, "tiny", {"vcpus": 1, "ram_mb": 256}, 1),  # a site name
        desired("image", image, "cirros-hub", {"id": image, "disk_format": "qcow2"}, 2),
        desired("server", srv, "web", server_spec, 3),
    ]
    outcomes = [(await intent.apply(Desired.from_wire(d))).outcome for d in placed]
    assert outcomes == ["created", "recorded", "created"]
    hub_flavor = await site.store.call(site.store.get_object, "flavor", flavor)
    assert hub_flavor.name is None and hub_flavor.spec["ram_mb"] == 256
    await site.converge()
    shown = await site.resources.show("server", srv)
    assert shown["status"] == "BUILDING" and "not at this site yet" in shown["message"]
    site.storage.preload_image(image, 16 * 1024 * 1024)  # the puller brought it
    await site.converge()
    assert (await site.resources.show("server", srv))["status"] == "ACTIVE"
    # a local action on the hub's server: its record names the flavor as the hub does
    await site.resources.server_action(srv, "stop", {})
    record = [o for o in await outbox(site) if o["type"] == "operation"][-1]
    assert record["desired"]["spec"]["flavor"] == flavor
    assert record["desired"]["spec"]["nics"][0]["network"] == net
    assert record["base_hub_revision"] == 3


async def test_with_the_hub_gone_local_changes_go_on_and_wait_in_the_outbox(
    site: Site, tmp_path: Path
) -> None:
    async with sync_hub(tmp_path / "gone", site.tmp) as hub:
        link = HubLink.load(site.tmp)
        assert link is not None
        client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
        await client.start()
        await hub.until(lambda: client.connected)
    try:  # the hub is gone (its listener closed): the site works on
        await hub.until(lambda: not client.connected and "unreachable" in client.last_error)
        made = await site.resources.create_volume({"name": "offline", "size_gb": 1})
        await site.resources.delete("volume", made["id"])
        figures = await client.figures()
        assert figures["outbox_depth"] >= 2 and not figures["connected"]
        ops = [o["op"] for o in await outbox(site) if o["type"] == "operation"]
        assert ops[-2:] == ["create", "delete"]
    finally:
        await client.stop()


async def test_a_server_written_before_its_flavor_waits_for_it_in_the_inbox(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    net = (await site.resources.create_network({"name": "lan"}))["id"]
    flavor, srv = ids.hub_id(), ids.hub_id()
    spec: JSON = {"flavor": flavor, "image": "cirros", "nics": [{"network": net}]}
    # the hub writes the server first and the flavor it places with it next
    await hub.send(Changes, revision=2, items=(
        put("server", srv, "web", spec, 1),
        put("flavor", flavor, "gold", {"vcpus": 1, "ram_mb": 256}, 2),
    ))  # fmt: skip
    await hub.until(lambda: hub.acked_revisions == [2])
    await hub.until(lambda: site.store.table_count("inbox") == 0)
    stored = await site.store.call(site.store.get_object, "server", srv)
    assert stored.spec["flavor"] == "gold" and stored.spec["ram_mb"] == 256
    assert not [e for e in hub.of_type("event") if e.body["reason"] == "refused"]


async def test_the_hubs_adoption_held_behind_the_local_create_is_recorded_once_acked(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    hub.ack_facts = False
    await hub.connection()
    made = await site.resources.create_volume({"name": "field", "size_gb": 1})
    # the hub adopted the create and sends it back before its ack reached the site
    back = put("volume", made["id"], "field", {"size_gb": 1}, 5, origin="site")
    await hub.send(Changes, revision=5, items=(back,))
    await hub.until(lambda: any(e.body["reason"] == "held" for e in hub.of_type("event")))
    assert site.store.get_object("volume", made["id"]).hub_revision is None
    await hub.ack_all()
    await hub.until(lambda: site.store.table_count("inbox") == 0)
    stored = await site.store.call(site.store.get_object, "volume", made["id"])
    assert (stored.origin, stored.hub_revision, stored.generation) == ("site", 5, 1)
    assert not [e for e in hub.of_type("event") if e.body["reason"] == "superseded"]


async def test_a_hub_with_a_certificate_from_another_ca_is_not_trusted(
    site: Site, tmp_path: Path
) -> None:
    async with sync_hub(tmp_path / "rogue", site.tmp) as hub:
        other = certs.new_ca("someone else's CA")
        certs.write_pem(site.tmp / "hub" / "ca.pem", other.cert_pem())  # pinned at join
        link = HubLink.load(site.tmp)
        assert link is not None
        client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
        await client.start()
        try:
            await hub.until(lambda: "CERTIFICATE_VERIFY_FAILED" in client.last_error)
            assert hub.hellos == [] and not client.connected
        finally:
            await client.stop()


async def test_a_snapshot_keeps_a_dropped_network_a_local_server_still_uses(site: Site) -> None:
    from atoll.resources import Desired

    intent = HubIntent(site.resources)
    net, gone_net = ids.hub_id(), ids.hub_id()
    for obj_id, name in ((net, "used"), (gone_net, "unused")):
        await intent.apply(Desired.from_wire(desired("network", obj_id, name, {}, 1)))
    local = await site.resources.create_server(
        {"name": "field", "flavor": "tiny", "image": "cirros", "nics": [{"network": net}]}
    )
    await site.store.call(site.store.outbox_acked, 10_000)
    gone = await intent.sweep(set())  # a snapshot that names neither network
    assert gone == [("network", gone_net)]
    assert not (await site.store.call(site.store.get_object, "network", net)).deleting
    assert not (await site.store.call(site.store.get_object, "server", local["id"])).deleting


async def test_anti_entropy_finds_the_objects_that_drifted_and_repairs_them(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    vols = [ids.hub_id() for _ in range(40)]
    image = ids.hub_id()
    items = [put("volume", v, f"v{i}", {"size_gb": 1}, i + 1) for i, v in enumerate(vols)]
    items.append(put("image", image, "cirros", {"id": image}, 41))
    await hub.send(Changes, revision=41, items=tuple(items))
    await hub.until(lambda: hub.acked_revisions == [41] and site.store.table_count("inbox") == 0)
    assert hub.hellos[0].versions == (1, 2, 3)
    # the hub's view: a volume it deleted (the site missed the delete), one the site never
    # got, one at a newer revision
    lost, newer = ids.hub_id(), vols[7]
    theirs = [(digest.key_of("volume", v), i + 1) for i, v in enumerate(vols) if v != vols[3]]
    theirs = [(k, 50 if k == digest.key_of("volume", newer) else r) for k, r in theirs]
    theirs += [(digest.key_of("image", image), 41), (digest.key_of("volume", lost), 51)]
    check = digest.Reconciler(digest.Items(theirs))
    for ranges in check.start():
        await hub.send(Digest, round=check.round, ranges=ranges)
    answered = 0
    while not check.done:
        await hub.until(lambda seen=answered: len(hub.digests) > seen)  # type: ignore[misc]
        for ranges in check.read(hub.digests[answered]):
            await hub.send(Digest, round=check.round, ranges=ranges)
        answered += 1
    assert {d.key: (d.hub, d.site) for d in check.differences} == {
        digest.key_of("volume", vols[3]): (None, 4),
        digest.key_of("volume", newer): (50, 8),
        digest.key_of("volume", lost): (51, None),
    }
    assert check.round <= 3
    await hub.send(Changes, revision=51, items=(
        Change(revision=50, op="delete", kind="volume", id=vols[3], repair=True),
        put("volume", lost, "lost", {"size_gb": 1}, 51),
    ))  # fmt: skip
    await hub.until(lambda: hub.acked_revisions[-1] == 51 and site.store.table_count("inbox") == 0)
    assert site.store.get_object("volume", vols[3]).deleting
    assert lost in site.store.object_ids("volume") and client.inbox.repairs == 1


async def test_a_repair_at_the_revision_the_site_has_is_applied_unless_a_local_change_holds(
    site: Site, hub: SyncHub, client: SyncClient
) -> None:
    """The hub sends repairs at the highest revision it has said (a repair never moves the
    site's cursor): the site takes them all the same. A repair delete of an object a local
    change holds waits behind it; the next check's same repair adds nothing."""
    gone, kept = ids.hub_id(), ids.hub_id()
    items = [put("volume", v, n, {"size_gb": 1}, r) for v, n, r in ((gone, "g", 1), (kept, "k", 2))]
    await hub.send(Changes, revision=2, items=tuple(items))
    await hub.until(lambda: hub.acked_revisions == [2] and site.store.table_count("inbox") == 0)
    hub.ack_facts = False
    await site.resources.volume_action(kept, "extend", {"size_gb": 2})  # held till acked
    repairs = tuple(Change(revision=2, op="delete", kind="volume", id=v, repair=True)
                    for v in (gone, kept))  # fmt: skip
    for _ in range(2):  # two checks find the same drift
        await hub.send(Changes, revision=2, items=repairs)
    async with asyncio.timeout(10):
        await hub.until(lambda: len(hub.acked_revisions) == 3)
        await hub.until(lambda: site.store.get_object("volume", gone).deleting)
        await hub.until(lambda: any(e.body["reason"] == "held" for e in hub.of_type("event")))
    assert not site.store.get_object("volume", kept).deleting
    assert [(r.op, r.obj_id) for r in site.store.inbox()] == [("delete", kept)]
    assert client.inbox.repairs >= 2  # 3 when the first delete went before the second came


def hellos_are(hub: SyncHub, n: int) -> bool:
    return len(hub.hellos) == n


async def test_reconnects_spread_as_the_hub_asks(site: Site, tmp_path: Path) -> None:
    """Before any welcome the site's own first window applies; after one, the hub's
    ``reconnect_spread`` (a small fleet's hub asks for a quick return)."""
    slow_until_welcomed = SyncSettings(reconnect_initial=30.0, reconnect_max=60.0,
                                       apply_interval=0.2)  # fmt: skip
    async with sync_hub(tmp_path / "spread", site.tmp) as hub:
        link = HubLink.load(site.tmp)
        assert link is not None
        client = SyncClient(link, site.store, HubIntent(site.resources),
                            settings=slow_until_welcomed)  # fmt: skip
        await client.start()
        try:
            await hub.until(lambda: len(hub.hellos) == 1)  # the first try is at once
            for n in (2, 3):  # then within the hub's 0.1 s, not the site's own 30 s
                await hub.drop()
                await asyncio.wait_for(hub.until(partial(hellos_are, hub, n)), 5)
        finally:
            await client.stop()


async def test_starting_over_puts_the_offers_before_the_changes_the_old_hub_never_recorded(
    site: Site,
) -> None:
    """Offered creates first, then the outbox's pending rows in their order (a change of
    an object after its create), then every status."""
    adopted = (await site.resources.create_volume({"name": "adopted", "size_gb": 1}))["id"]
    await site.store.call(site.store.outbox_acked, 10_000)  # the old hub recorded it...
    stored = await site.store.call(site.store.get_object, "volume", adopted)
    # ... and adopted it
    await site.store.call(site.store.update_from_hub, "volume", adopted, "adopted",
                          stored.spec, "site", 7)  # fmt: skip
    await site.store.call(site.store.set_meta, "hub_history", "a" * 32)
    pending = (await site.resources.create_volume({"name": "pending", "size_gb": 1}))["id"]
    await site.store.call(site.store.set_status, "volume", adopted, "available")
    offered = await site.store.call(welcome_history_blocking, site.store, "b" * 32)
    assert offered == 1
    facts = await site.store.call(facts_after_blocking, site.store, 0)
    order = [(f.type, f.body.get("op"), f.body["id"]) for f in facts]
    creates = [o for o in order if o[0] == "operation"]
    assert creates == [("operation", "create", adopted), ("operation", "create", pending)]
    assert order.index(creates[-1]) < min(i for i, o in enumerate(order) if o[0] == "status")
    assert [f.seq for f in facts] == sorted(f.seq for f in facts)
    again = await site.store.call(welcome_history_blocking, site.store, "b" * 32)
    assert again is None  # the same history: nothing more


async def test_starting_over_offers_what_the_old_hub_acked_before_its_adoption_came_down(
    site: Site,
) -> None:
    """A create the old hub recorded (its outbox row is gone) whose adoption had not reached
    the site (no hub revision) is offered again; the default flavors, which never went to a
    hub, are not."""
    defaults = await site.store.call(site.store.list_objects, "flavor")
    assert defaults  # seeded at first start
    flavor = await site.resources.create_flavor({"name": "big", "vcpus": 4, "ram_mb": 4096})
    volume = (await site.resources.create_volume({"name": "late", "size_gb": 1}))["id"]
    await site.store.call(site.store.outbox_acked, 10_000)  # the old hub recorded both
    await site.store.call(site.store.set_meta, "hub_history", "a" * 32)
    await site.restart()  # nothing of it lives only in memory
    offered = await site.store.call(welcome_history_blocking, site.store, "b" * 32)
    facts = await site.store.call(facts_after_blocking, site.store, 0)
    operations = [(f.body["op"], f.body["id"], f.body["actor"]) for f in facts
                  if f.type == "operation"]  # fmt: skip
    assert operations == [("create", flavor["id"], "resync"), ("create", volume, "resync")]
    assert offered == 2


async def test_starting_over_sends_the_sites_deletes_again_and_does_not_make_them_again(
    site: Site,
) -> None:
    """The site deleted an object it made and the old hub had adopted, after the backup the
    hub was restored from: the delete goes up again and the restored hub's snapshot, which
    still names the object, does not make it again. A hub object the site deleted comes
    back: the restored hub's intent wins."""
    made = (await site.resources.create_volume({"name": "made", "size_gb": 1}))["id"]
    await site.store.call(site.store.outbox_acked, 10_000)
    await site.store.call(site.store.update_from_hub, "volume", made, "made",
                          {"name": "made", "size_gb": 1}, "site", 3)  # fmt: skip
    placed = ids.hub_id()
    inbox = Inbox(site.store, HubIntent(site.resources))
    await inbox.persist(Changes(v=1, n=1, revision=4, items=(
        put("volume", placed, "placed", {"size_gb": 1}, 4),
    )))  # fmt: skip
    await inbox.apply_pending()
    await site.store.call(site.store.set_meta, "hub_history", "a" * 32)
    # after the backup (taken at revision 4): both deleted here, the old hub recorded it
    await site.resources.delete("volume", made)
    await site.resources.delete("volume", placed)
    await site.store.call(site.store.outbox_acked, 10_000)
    await site.converge()
    assert not await volumes(site)

    await site.store.call(welcome_history_blocking, site.store, "b" * 32)
    facts = await site.store.call(facts_after_blocking, site.store, 0)
    operations = [f.body for f in facts if f.type == "operation"]
    assert [(o["op"], o["id"], o["actor"], o["base_hub_revision"]) for o in operations] == [
        ("delete", made, "resync", None)
    ]
    assert operations[0]["desired"]["meta"]["name"] == "made"
    # the restored hub's snapshot, as of the backup: it names both
    snapshot = Snapshot(v=1, n=2, revision=4, last=True, items=(
        put("volume", made, "made", {"size_gb": 1}, 3, origin="site"),
        put("volume", placed, "placed", {"size_gb": 1}, 4),
    ))  # fmt: skip
    await inbox.persist(snapshot)
    await inbox.apply_pending()
    assert list(await volumes(site)) == [placed]  # the delete waits for the hub's ack
    await site.store.call(site.store.outbox_acked, 10_000)
    await inbox.apply_pending()
    assert list(await volumes(site)) == [placed] and site.store.table_count("inbox") == 0
    # the hub's snapshot again (cut short and asked for again, say), after the ack
    await inbox.persist(dataclasses.replace(snapshot, n=3))
    await inbox.apply_pending()
    assert list(await volumes(site)) == [placed]


async def test_a_terminate_deletes_the_subnet_and_network_once_their_server_is_gone(
    site: Site,
) -> None:
    """The hub deletes a VNF's server, then its internal subnet and network (one frame, as a
    terminate writes them): those wait in the inbox until the server is gone here, instead of
    being refused (the site kept them for ever; the hub thought them deleted)."""
    from atoll.resources import Desired

    intent = HubIntent(site.resources)
    inbox = Inbox(site.store, intent)
    net, sub, flavor, srv = ids.hub_id(), ids.hub_id(), ids.hub_id(), ids.hub_id()
    server_spec: JSON = {"flavor": flavor, "image": "cirros", "nics": [{"network": net}]}
    placed = [
        desired("network", net, "internal", {}, 1),
        desired("subnet", sub, "internal-v4", {"network": net, "cidr": "10.9.0.0/24"}, 2),
        desired("flavor", flavor, "tiny", {"vcpus": 1, "ram_mb": 256}, 3),
        desired("server", srv, "vdu1", server_spec, 4),
    ]
    for d in placed:
        await intent.apply(Desired.from_wire(d))
    await site.converge()
    assert (await site.resources.show("server", srv))["status"] == "ACTIVE"
    await inbox.persist(Changes(v=1, n=2, revision=7, items=(
        Change(revision=5, op="delete", kind="server", id=srv),
        Change(revision=6, op="delete", kind="subnet", id=sub),
        Change(revision=7, op="delete", kind="network", id=net),
    )))  # fmt: skip
    await inbox.apply_pending()
    assert site.store.table_count("inbox") == 2  # the subnet and network wait for the server
    for _ in range(10):
        await site.converge()
        await inbox.apply_pending()
        await site.converge()
        if not await site.resources.list_kind("network"):
            break
    refused = [o for o in await outbox(site) if o["type"] == "event" and "refused" in o["reason"]]
    assert refused == []
    assert site.store.table_count("inbox") == 0
    assert await site.resources.list_kind("subnet") == []
    assert await site.resources.list_kind("network") == []
