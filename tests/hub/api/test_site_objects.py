"""Per-site intent: ``/v1/sites/{site}/servers|networks|subnets|volumes``."""

from __future__ import annotations

from typing import Any

from atoll import ids
from atoll.hub.catalog.images import new_image
from atoll.hub.sites import intent
from atoll.hub.store.base import ListQuery
from atoll.hub.sync import operations
from tests.hub.hubtest import Api

ANSWER = {"id", "name", "project_id", "site", "kind", "origin", "hub_revision", "spec",
          "status", "conflict"}  # fmt: skip


async def setting(api: Api) -> tuple[str, str, str]:
    """Site edge-1, projects a and b with a member each, a public flavor and image."""
    admin = await api.admin()
    for project in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": project})
    await api.ok("POST", "/v1/sites", admin, {"name": "edge-1"})
    await api.ok(
        "POST", "/v1/flavors", admin, {"name": "m1.small", "vcpus": 1, "ram_mb": 256, "disk_gb": 1}
    )
    image = new_image(ids.hub_id(), {"name": "cirros", "disk_format": "qcow2",
                      "visibility": "public"}, None, None, "2030-01-01T00:00:00Z")  # fmt: skip
    image.update(status="active", checksum_sha256="cd" * 32, size=10)
    await api.store.put("image", image["id"], image)
    return (
        await api.user_with_role("alice", "a", "member"),
        await api.user_with_role("bob", "b", "member"),
        image["id"],
    )


async def placed(api: Api, kind: str) -> list[Any]:
    page = await api.store.list(ListQuery(intent.SITE_OBJECT, {"kind": kind}))
    return page.items


async def test_a_server_is_placed_with_its_flavor_and_image(api: Api) -> None:
    alice, _, image_id = await setting(api)
    net = await api.ok("POST", "/v1/sites/edge-1/networks", alice, {"name": "net", "spec": {}})
    body = {"name": "vm-1", "spec": {"flavor": "m1.small", "image": "cirros",
                                     "nics": [{"network": "net"}]}}  # fmt: skip
    server = await api.ok("POST", "/v1/sites/edge-1/servers", alice, body)
    assert set(server) == ANSWER
    assert server["kind"] == "server" and server["origin"] == "hub" and server["site"] == "edge-1"
    assert server["status"] is None and server["conflict"] is None
    assert server["spec"]["image"] == image_id and server["spec"]["nics"][0]["network"] == net["id"]
    flavors, images = await placed(api, "flavor"), await placed(api, "image")
    assert [f.value["id"] for f in flavors] == [server["spec"]["flavor"]]
    assert [i.value["id"] for i in images] == [image_id]
    assert images[0].value["desired"]["spec"]["sha256"] == "cd" * 32
    body["name"] = "vm-2"
    await api.ok("POST", "/v1/sites/edge-1/servers", alice, body)
    assert len(await placed(api, "flavor")) == 1  # placed once per site
    listed = await api.ok("GET", "/v1/sites/edge-1/servers", alice)
    assert sorted(s["name"] for s in listed["items"]) == ["vm-1", "vm-2"]
    assert listed["next_marker"] is None


async def test_projects_see_only_their_own_objects(api: Api) -> None:
    alice, bob, _ = await setting(api)
    net = await api.ok("POST", "/v1/sites/edge-1/networks", alice, {"name": "net", "spec": {}})
    assert (await api.ok("GET", "/v1/sites/edge-1/networks", bob))["items"] == []
    for path in (f"/v1/sites/edge-1/networks/{net['id']}", "/v1/sites/edge-1/networks/net"):
        assert (await api.call("GET", path, bob))[0] == 404
        assert (await api.call("DELETE", path, bob))[0] == 404
    # bob's servers cannot use alice's network either
    body = {"name": "vm", "spec": {"flavor": "m1.small", "image": "cirros",
                                   "nics": [{"network": net["id"]}]}}  # fmt: skip
    status, error, _ = await api.call("POST", "/v1/sites/edge-1/servers", bob, body)
    assert status == 400 and error["error"]["problems"][0]["where"] == "body.spec.nics[0].network"
    admin = await api.admin()
    seen = await api.ok("GET", f"/v1/sites/edge-1/networks/{net['id']}", admin)
    assert seen["project_id"] == (await api.store.get("project", "a")).value["id"]


async def test_specs_are_checked_by_the_typed_model(api: Api) -> None:
    alice, _, _ = await setting(api)
    cases = [
        ("networks", {"segment_type": "vlan"}, "body.spec.vlan_id"),
        ("networks", {"mtu": 9000, "colour": "red"}, "body.spec.colour"),
        ("volumes", {"size_gb": 0}, "body.spec.size_gb"),
        ("subnets", {"network": "nowhere", "cidr": "10.0.0.0/24"}, "body.spec.network"),
        ("servers", {"flavor": "huge", "image": "cirros"}, "body.spec.flavor"),
        ("servers", {"flavor": "m1.small", "image": "nothing"}, "body.spec.image"),
        ("servers", {"flavor": "m1.small", "image": "cirros", "vcpus": 64}, "body.spec.vcpus"),
    ]
    for noun, spec, where in cases:
        status, error, _ = await api.call(
            "POST", f"/v1/sites/edge-1/{noun}", alice, {"name": "x", "spec": spec}
        )
        assert status == 400, (noun, spec, error)
        assert where in [p["where"] for p in error["error"]["problems"]], (noun, spec, error)
    admin = await api.admin()
    status, error, _ = await api.call(
        "POST", "/v1/sites/edge-1/networks", admin, {"name": "x", "spec": {}}
    )
    assert status == 400 and error["error"]["problems"][0]["where"] == "body.project"
    assert (await api.call("POST", "/v1/sites/nowhere/networks", alice,
                           {"name": "x", "spec": {}}))[0] == 404  # fmt: skip


async def test_server_actions_change_the_spec_and_delete_removes(api: Api) -> None:
    alice, _, _ = await setting(api)
    body = {"name": "vm", "spec": {"flavor": "m1.small", "image": "cirros"}}
    server = await api.ok("POST", "/v1/sites/edge-1/servers", alice, body)
    path = f"/v1/sites/edge-1/servers/{server['id']}"
    rebooted = await api.ok("POST", f"{path}/reboot", alice, {"hard": True})
    assert rebooted["spec"]["reboots"] == 1 and rebooted["spec"]["reboot_hard"] is True
    assert rebooted["hub_revision"] > server["hub_revision"]
    stopped = await api.ok("POST", f"{path}/stop", alice)
    assert stopped["spec"]["power"] == "stopped" and stopped["spec"]["reboots"] == 1
    assert (await api.ok("POST", f"{path}/start", alice))["spec"]["power"] == "running"
    assert (await api.call("DELETE", path, alice))[0] == 204
    assert (await api.call("GET", path, alice))[0] == 404


async def test_keep_site_adopts_the_sites_version_of_a_conflict(api: Api) -> None:
    alice, bob, _ = await setting(api)
    net = await api.ok("POST", "/v1/sites/edge-1/networks", alice, {"name": "net", "spec": {}})
    site = (await api.store.get("site", "edge-1")).value
    key = intent.object_key(site["id"], "network", net["id"])
    record = await api.store.get(intent.SITE_OBJECT, key)
    hub_side = {**record.value, "desired": {**record.value["desired"], "spec": {"mtu": 1600}}}
    await api.store.put(intent.SITE_OBJECT, key, hub_side)  # the hub changed it meanwhile
    site_side = {**intent.desired_wire(record), "spec": {"mtu": 9000}}  # type: ignore[dict-item]
    op = {"op": "update", "kind": "network", "id": net["id"], "desired": site_side,
          "base_hub_revision": net["hub_revision"], "at": "2030-01-01T00:00:00Z",
          "actor": "fe"}  # fmt: skip
    outcome = await operations.record_operation(api.store, site, 7, op, "2030-01-01T00:00:00Z")
    assert outcome == "conflict"
    again = await operations.record_operation(api.store, site, 7, op, "2030-01-01T00:00:00Z")
    assert again == "duplicate"
    held = await api.ok("GET", f"/v1/sites/edge-1/networks/{net['id']}", alice)
    assert held["spec"]["mtu"] == 1600 and held["conflict"]
    assert (await api.call("GET", f"/v1/conflicts/{held['conflict']}", bob))[0] == 404
    assert (await api.ok("GET", "/v1/conflicts", bob))["items"] == []
    shown = await api.ok("GET", f"/v1/conflicts/{held['conflict']}", alice)
    assert shown["site_desired"]["spec"]["mtu"] == 9000 and shown["state"] == "open"
    reader = await api.user_with_role("carol", "a", "reader")
    resolve = f"/v1/conflicts/{held['conflict']}/resolve"
    assert (await api.call("POST", resolve, reader, {"keep": "site"}))[0] == 403
    assert (await api.call("POST", resolve, bob, {"keep": "site"}))[0] == 404
    resolved = await api.ok("POST", resolve, alice, {"keep": "site"})
    assert resolved["state"] == "resolved" and resolved["resolution"]["keep"] == "site"
    kept = await api.ok("GET", f"/v1/sites/edge-1/networks/{net['id']}", alice)
    assert kept["spec"]["mtu"] == 9000 and kept["conflict"] is None
    assert (await api.call("POST", resolve, alice, {"keep": "hub"}))[0] == 409


async def test_what_a_site_made_and_removed_offline_is_adopted_then_removed(api: Api) -> None:
    alice, _, _ = await setting(api)
    # project a runs something at edge-1, so the site may make objects for it
    await api.ok("POST", "/v1/sites/edge-1/networks", alice, {"name": "net", "spec": {}})
    site = (await api.store.get("site", "edge-1")).value
    project_id = (await api.store.get("project", "a")).value["id"]
    local_id = ids.site_id(ids.site_tag("edge-1"))
    desired = {"kind": "network", "meta": {"id": local_id, "name": "local",
               "project_id": project_id}, "spec": {}, "origin": "site"}  # fmt: skip
    now = "2030-01-01T00:00:00Z"

    def op(kind: str, body: Any) -> Any:
        return {"op": kind, "kind": "network", "id": local_id, "base_hub_revision": None,
                "desired": body, "at": now, "actor": "fe"}  # fmt: skip

    assert await operations.record_operation(api.store, site, 1, op("create", desired), now) == (
        "adopted"
    )
    adopted = await api.ok("GET", f"/v1/sites/edge-1/networks/{local_id}", alice)
    assert adopted["origin"] == "site" and adopted["conflict"] is None
    assert await operations.record_operation(api.store, site, 2, op("delete", None), now) == (
        "adopted"
    )
    assert (await api.call("GET", f"/v1/sites/edge-1/networks/{local_id}", alice))[0] == 404
    assert (await api.ok("GET", "/v1/conflicts", alice))["items"] == []


async def test_what_a_server_uses_is_not_removed_under_it(api: Api) -> None:
    """A network with a server's NIC on it (or its subnet), a volume a server has: 409, as
    the site agent refuses them; removed at the hub alone, the site kept them pinned by
    their users, and the two disagreed for good (a probe saw it). Once the server is gone,
    the network goes with its subnets."""
    alice, _, _ = await setting(api)
    await api.ok("POST", "/v1/sites/edge-1/networks", alice, {"name": "net", "spec": {}})
    subnet = {"name": "sub", "spec": {"network": "net", "cidr": "10.1.0.0/24"}}
    await api.ok("POST", "/v1/sites/edge-1/subnets", alice, subnet)
    volume = await api.ok("POST", "/v1/sites/edge-1/volumes", alice,
                          {"name": "vol", "spec": {"size_gb": 1}})  # fmt: skip
    body = {
        "name": "vm",
        "spec": {
            "flavor": "m1.small",
            "image": "cirros",
            "nics": [{"network": "net"}],
            "volumes": [volume["id"]],
        },
    }
    server = await api.ok("POST", "/v1/sites/edge-1/servers", alice, body)
    for path in ("networks/net", "subnets/sub", "volumes/vol"):
        status, error, _ = await api.call("DELETE", f"/v1/sites/edge-1/{path}", alice)
        assert status == 409 and "in use at site edge-1 by server vm" in error["error"]["message"]
    assert (await api.call("DELETE", f"/v1/sites/edge-1/servers/{server['id']}", alice))[0] == 204
    assert (await api.call("DELETE", "/v1/sites/edge-1/networks/net", alice))[0] == 204
    assert not [s for s in await placed(api, "subnet") if s.value.get("desired")]
    assert (await api.call("DELETE", "/v1/sites/edge-1/volumes/vol", alice))[0] == 204
