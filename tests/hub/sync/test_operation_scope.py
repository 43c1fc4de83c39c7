"""Which projects a site's operation records may name (:mod:`atoll.hub.sync.operations`).

A site speaks for its own scope (objects in no project) and for the projects the hub placed
something for at it; an object the hub has keeps its project. Anything else is refused:
recorded with the reason, nothing else written.
"""

from __future__ import annotations

from typing import Any

from atoll import ids
from atoll.hub.sites import intent
from atoll.hub.store.base import ListQuery
from atoll.hub.store.query import get_or_none
from atoll.hub.sync import operations
from atoll.jsonbody import JSON
from atoll.resources import Desired, FlavorSpec, Meta
from tests.hub.hubtest import Api

NOW = "2030-01-01T00:00:00Z"


async def _setting(api: Api) -> tuple[str, str, str, str, JSON]:
    """Projects a (with a network at edge-1, alice a member) and b (bob a member, nothing at
    edge-1 but a flavor it owns); their ids and alice's network."""
    admin = await api.admin()
    for project in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": project})
    for name in ("edge-1", "edge-2"):
        await api.ok("POST", "/v1/sites", admin, {"name": name})
    alice = await api.user_with_role("alice", "a", "member")
    bob = await api.user_with_role("bob", "b", "member")
    net = await api.ok("POST", "/v1/sites/edge-1/networks", alice, {"name": "net", "spec": {}})
    a_id = (await api.store.get("project", "a")).value["id"]
    b_id = (await api.store.get("project", "b")).value["id"]
    # a catalog reference a site gets with what it runs carries its owner's project: b owns
    # this flavor, but b has placed nothing at edge-1
    site = await _site(api, "edge-1")
    flavor = Desired(kind="flavor", meta=Meta(id=ids.hub_id(), name="b-small", project_id=b_id),
                     spec=FlavorSpec(vcpus=1, ram_mb=64), origin="hub")  # fmt: skip
    key = intent.object_key(site["id"], "flavor", flavor.meta.id)
    await api.store.put(intent.SITE_OBJECT, key, intent.new_object(site, flavor))
    return alice, bob, a_id, b_id, net


async def _site(api: Api, name: str) -> JSON:
    return dict((await api.store.get("site", name)).value)


def _network(object_id: str, project_id: str | None, mtu: int = 1500) -> JSON:
    meta = {"id": object_id, "name": "planted", "project_id": project_id}
    return {"kind": "network", "meta": meta, "spec": {"mtu": mtu}, "origin": "site"}


def _op(op: str, object_id: str, desired: Any, base: int | None = None) -> JSON:
    return {"op": op, "kind": "network", "id": object_id, "base_hub_revision": base,
            "desired": desired, "at": NOW, "actor": "fe"}  # fmt: skip


async def _record(api: Api, site: str, seq: int, body: JSON) -> tuple[str, JSON]:
    """The outcome, and the operation record as the hub keeps it."""
    site_value = await _site(api, site)
    outcome = await operations.record_operation(api.store, site_value, seq, body, NOW)
    kept = await api.store.get(intent.SITE_OPERATION, intent.fact_key(site_value["id"], seq))
    return outcome, kept.value


async def _listed(api: Api, token: str) -> list[str]:
    page = await api.ok("GET", "/v1/sites/edge-1/networks", token)
    return sorted(n["name"] for n in page["items"])


async def test_a_site_cannot_create_in_a_project_with_nothing_placed_at_it(api: Api) -> None:
    _, bob, _, b_id, _ = await _setting(api)
    planted = ids.hub_id()
    outcome, kept = await _record(api, "edge-1", 1, _op("create", planted, _network(planted, b_id)))
    assert outcome == "refused" and kept["outcome"] == "refused"
    assert b_id in kept["reason"] and "nothing placed at site edge-1" in kept["reason"]
    assert await _listed(api, bob) == []
    key = intent.object_key((await _site(api, "edge-1"))["id"], "network", planted)
    assert await get_or_none(api.store, intent.SITE_OBJECT, key) is None
    admin = await api.admin()
    shown = await api.ok("GET", "/v1/sites/edge-1/operations", admin)
    assert [o["outcome"] for o in shown["items"]] == ["refused"]


async def test_own_scope_and_projects_placed_at_the_site_are_adopted(api: Api) -> None:
    alice, _, a_id, _, _ = await _setting(api)
    local = ids.site_id(ids.site_tag("edge-1"))
    assert (await _record(api, "edge-1", 1, _op("create", local, _network(local, None))))[0] == (
        "adopted"
    )
    admin = await api.admin()
    seen = await api.ok("GET", f"/v1/sites/edge-1/networks/{local}", admin)
    assert seen["project_id"] is None and seen["origin"] == "site"
    for_a = ids.site_id(ids.site_tag("edge-1"))
    assert (await _record(api, "edge-1", 2, _op("create", for_a, _network(for_a, a_id))))[0] == (
        "adopted"
    )
    assert await _listed(api, alice) == ["net", "planted"]


async def test_an_object_keeps_its_project_whatever_the_site_says(api: Api) -> None:
    alice, bob, a_id, b_id, net = await _setting(api)
    moved = _network(net["id"], b_id, mtu=9000)
    outcome, kept = await _record(api, "edge-1", 1, _op("update", net["id"], moved,
                                                        net["hub_revision"]))  # fmt: skip
    assert outcome == "refused" and "cannot move it to project" in kept["reason"]
    assert await _listed(api, bob) == []
    same = await api.ok("GET", f"/v1/sites/edge-1/networks/{net['id']}", alice)
    assert same["spec"] == net["spec"] and same["hub_revision"] == net["hub_revision"]
    # a site that stored no project (an older agent) says none: the object stays a's
    unsaid = _network(net["id"], None, mtu=9000)
    outcome, _ = await _record(api, "edge-1", 2, _op("update", net["id"], unsaid,
                                                     net["hub_revision"]))  # fmt: skip
    assert outcome == "adopted"
    record = await api.store.get(intent.SITE_OBJECT, intent.object_key(
        (await _site(api, "edge-1"))["id"], "network", net["id"]))  # fmt: skip
    assert record.value["desired"]["meta"]["project_id"] == a_id
    assert record.value["project_id"] == a_id and record.value["desired"]["spec"]["mtu"] == 9000
    # nor can a site move its own object into another project
    local = ids.site_id(ids.site_tag("edge-1"))
    await _record(api, "edge-1", 3, _op("create", local, _network(local, None)))
    outcome, _ = await _record(api, "edge-1", 4, _op("update", local, _network(local, a_id)))
    assert outcome == "refused"


async def test_no_conflict_is_opened_for_a_project_the_site_does_not_serve(api: Api) -> None:
    alice, bob, a_id, b_id, _ = await _setting(api)
    unknown = ids.hub_id()
    outcome, _ = await _record(api, "edge-1", 1, _op("update", unknown, _network(unknown, b_id), 3))
    assert outcome == "refused"
    assert (await api.ok("GET", "/v1/conflicts", bob))["items"] == []
    conflicts = await api.store.list(ListQuery(intent.CONFLICT))
    assert conflicts.items == []
    # an object of a project the site serves that the hub deleted meanwhile: a conflict
    gone = ids.hub_id()
    outcome, _ = await _record(api, "edge-1", 2, _op("update", gone, _network(gone, a_id), 3))
    assert outcome == "conflict"
    assert [c["project_id"] for c in (await api.ok("GET", "/v1/conflicts", alice))["items"]] == [
        a_id
    ]


async def test_a_site_reaches_no_object_placed_at_another_site(api: Api) -> None:
    alice, _, a_id, _, net = await _setting(api)
    # edge-2 names edge-1's network by id: its key is edge-2's, so nothing of edge-1 moves
    deleted = _op("delete", net["id"], _network(net["id"], a_id), net["hub_revision"])
    assert (await _record(api, "edge-2", 1, deleted))[0] == "adopted"  # nothing to delete there
    changed = _network(net["id"], a_id, mtu=9000)
    outcome, kept = await _record(api, "edge-2", 2, _op("update", net["id"], changed,
                                                        net["hub_revision"]))  # fmt: skip
    assert outcome == "refused" and "edge-2" in kept["reason"]
    same = await api.ok("GET", f"/v1/sites/edge-1/networks/{net['id']}", alice)
    assert same["hub_revision"] == net["hub_revision"] and same["conflict"] is None
