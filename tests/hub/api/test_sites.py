"""The site registry and join tokens."""

from __future__ import annotations

import pytest

from atoll.errors import Unauthenticated
from atoll.hub.catalog import images
from atoll.hub.sites import intent, registry
from atoll.hub.store.base import ListQuery
from tests.hub.hubtest import Api


async def test_site_lifecycle_and_maintenance(api: Api) -> None:
    admin = await api.admin()
    site = await api.ok(
        "POST",
        "/v1/sites",
        admin,
        {
            "name": "edge-1",
            "region": "north",
            "labels": {"rack": "r1"},
            "location": {"latitude": 59.33, "longitude": 18.07},
        },
    )
    assert site["state"] == "enrolling" and site["last_seen"] is None
    assert site["capacity"] == {"vcpus": 0, "ram_mb": 0, "disk_gb": 0}
    bad = await api.call(
        "POST", "/v1/sites", admin, {"name": "x", "location": {"latitude": 91, "longitude": 0}}
    )
    assert bad[0] == 400 and bad[1]["error"]["problems"][0]["where"] == "body.location.latitude"
    store = api.store
    await registry.record_report(
        store,
        "edge-1",
        {"vcpus": 8, "ram_mb": 16384, "disk_gb": 100},
        {"vcpus": 2, "ram_mb": 2048, "disk_gb": 10},
        api.clock.now,
    )
    status, shown, headers = await api.call("GET", "/v1/sites/edge-1", admin)
    assert shown["state"] == "online" and shown["capacity"]["vcpus"] == 8 and shown["last_seen"]
    status, _, _ = await api.call("PATCH", "/v1/sites/edge-1", admin, {"state": "offline"})
    assert status == 409
    status, shown, _ = await api.call(
        "PATCH", "/v1/sites/edge-1", admin, {"state": "maintenance"}, {"If-Match": headers["ETag"]}
    )
    assert status == 200 and shown["state"] == "maintenance"
    await registry.record_report(store, "edge-1", shown["capacity"], shown["usage"], api.clock.now)
    assert (await api.ok("GET", "/v1/sites/edge-1", admin))["state"] == "maintenance"
    assert (await api.ok("PATCH", "/v1/sites/edge-1", admin, {"state": "offline"}))[
        "state"
    ] == "offline"
    status, _, _ = await api.call("PATCH", "/v1/sites/edge-1", admin, {"state": "online"})
    assert status == 400
    assert (await api.call("DELETE", "/v1/sites/edge-1", admin))[0] == 204


async def test_join_tokens_are_shown_once_and_work_once(api: Api) -> None:
    admin = await api.admin()
    made = await api.ok("POST", "/v1/join_tokens", admin, {"site": "edge-2", "ttl": 600})
    text = made["token"]
    listed = await api.ok("GET", "/v1/join_tokens", admin)
    assert listed["items"][0]["id"] == made["id"] and text not in str(listed)
    assert (await api.ok("GET", "/v1/sites/edge-2", admin))["state"] == "enrolling"
    store = api.store
    with pytest.raises(Unauthenticated):
        await registry.consume_join_token(store, made["id"] + ".wrong", api.clock.now)
    assert await registry.consume_join_token(store, text, api.clock.now) == "edge-2"
    with pytest.raises(Unauthenticated, match="already been used"):
        await registry.consume_join_token(store, text, api.clock.now)
    late = await api.ok("POST", "/v1/join_tokens", admin, {"site": "edge-2", "ttl": 60})
    with pytest.raises(Unauthenticated, match="expired"):
        await registry.consume_join_token(store, late["token"], api.clock.now + 61)
    revoked = await api.ok("POST", "/v1/join_tokens", admin, {"site": "edge-2"})
    assert (await api.call("DELETE", f"/v1/join_tokens/{revoked['id']}", admin))[0] == 204
    with pytest.raises(Unauthenticated):
        await registry.consume_join_token(store, revoked["token"], api.clock.now)
    await registry.record_report(store, "edge-2", registry.ZERO, registry.ZERO, api.clock.now)
    status, data, _ = await api.call("POST", "/v1/join_tokens", admin, {"site": "edge-2"})
    assert status == 409 and "already enrolled" in data["error"]["message"]


async def test_sites_filter_by_region_and_state(api: Api) -> None:
    admin = await api.admin()
    for name, region in (("n1", "north"), ("n2", "north"), ("s1", "south")):
        await api.ok("POST", "/v1/sites", admin, {"name": name, "region": region})
    await api.ok("PATCH", "/v1/sites/n2", admin, {"state": "maintenance"})
    north = await api.ok("GET", "/v1/sites?region=north", admin)
    assert [s["name"] for s in north["items"]] == ["n1", "n2"]
    calm = await api.ok("GET", "/v1/sites?region=north&state=maintenance", admin)
    assert [s["name"] for s in calm["items"]] == ["n2"]
    status, data, _ = await api.call("GET", "/v1/sites?state=sleeping", admin)
    assert status == 400 and data["error"]["problems"][0]["where"] == "query.state"


async def test_a_site_with_work_placed_is_not_deleted_and_a_deleted_one_leaves_nothing(
    api: Api,
) -> None:
    """While the hub places work at a site, deleting it is refused (409 naming it): before,
    the site went and its servers, networks and facts stayed behind under its id for good.
    Once its work is deleted, the site goes with what the hub kept about it."""
    admin = await api.admin()
    site = await api.ok("POST", "/v1/sites", admin, {"name": "edge-9"})
    await api.ok("POST", "/v1/projects", admin, {"name": "p9"})
    body = {"name": "net", "spec": {}, "project": "p9"}
    net = await api.ok("POST", "/v1/sites/edge-9/networks", admin, body)
    status, error, _ = await api.call("DELETE", "/v1/sites/edge-9", admin)
    assert status == 409 and "network net" in error["error"]["message"]

    store = api.store
    await api.ok("DELETE", f"/v1/sites/edge-9/networks/{net['id']}", admin)
    sid = site["id"]
    await store.put(intent.SITE_EVENT, intent.fact_key(sid, 1), {"site_id": sid, "seq": 1})
    await store.put(intent.SITE_OPERATION, intent.fact_key(sid, 2), {"site_id": sid, "seq": 2})
    await store.put(intent.SITE_STATUS, intent.object_key(sid, "network", net["id"]), {})
    await store.put(intent.CONFLICT, "c1", {"id": "c1", "site_id": sid, "state": "resolved"})
    await store.put(images.TRANSFER_KIND, images.transfer_key("edge-9", "i" * 32),
                    {"site": "edge-9", "created_at": ""})  # fmt: skip
    assert (await api.call("DELETE", "/v1/sites/edge-9", admin))[0] == 204
    for kind in (intent.SITE_OBJECT, intent.SITE_EVENT, intent.SITE_OPERATION,
                 intent.SITE_STATUS, intent.CONFLICT, images.TRANSFER_KIND,
                 registry.PURGE_KIND, registry.SITE_KIND):  # fmt: skip
        assert not (await store.list(ListQuery(kind))).items, kind
