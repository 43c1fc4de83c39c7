"""Projects: create, read, update with If-Match, delete; the API conventions on one resource."""

from __future__ import annotations

import pytest
from aiohttp import web

from atoll.errors import TemporaryError
from atoll.hub.api import projects, purges
from atoll.hub.identity import tenancy
from atoll.hub.store.query import list_all
from tests.hub.hubtest import Api


async def test_create_show_list_delete(api: Api) -> None:
    admin = await api.admin()
    status, created, headers = await api.call(
        "POST", "/v1/projects", admin, {"name": "a", "description": "first"}
    )
    assert status == 201 and created["name"] == "a"
    assert headers["ETag"].strip('"').isdigit()
    shown = await api.ok("GET", "/v1/projects/a", admin)
    assert shown == created
    assert [p["name"] for p in (await api.ok("GET", "/v1/projects", admin))["items"]] == ["a"]
    status, data, _ = await api.call("POST", "/v1/projects", admin, {"name": "a"})
    assert status == 409 and data["error"]["code"] == "conflict"
    assert (await api.call("DELETE", "/v1/projects/a", admin))[0] == 204
    assert (await api.call("GET", "/v1/projects/a", admin))[0] == 404


async def test_update_with_a_stale_if_match_is_a_409(api: Api) -> None:
    admin = await api.admin()
    _, _, headers = await api.call("POST", "/v1/projects", admin, {"name": "a"})
    etag = headers["ETag"]
    status, body, new = await api.call(
        "PATCH", "/v1/projects/a", admin, {"description": "v2"}, {"If-Match": etag}
    )
    assert status == 200 and body["description"] == "v2" and new["ETag"] != etag
    status, body, _ = await api.call(
        "PATCH", "/v1/projects/a", admin, {"description": "v3"}, {"If-Match": etag}
    )
    assert status == 409 and body["error"]["code"] == "stale_revision"
    status, body, _ = await api.call(
        "PATCH", "/v1/projects/a", admin, {"description": "v3"}, {"If-Match": "banana"}
    )
    assert status == 400


async def test_pagination_with_limit_and_marker(api: Api) -> None:
    admin = await api.admin()
    names = [f"p{i:02d}" for i in range(7)]
    for name in names:
        await api.ok("POST", "/v1/projects", admin, {"name": name})
    seen: list[str] = []
    marker = None
    while True:
        path = "/v1/projects?limit=3" + (f"&marker={marker}" if marker else "")
        page = await api.ok("GET", path, admin)
        seen += [p["name"] for p in page["items"]]
        marker = page["next_marker"]
        if marker is None:
            break
    assert seen == names
    status, data, _ = await api.call("GET", "/v1/projects?limit=0", admin)
    assert status == 400 and data["error"]["problems"][0]["where"] == "query.limit"


async def test_bad_bodies_are_400s_that_say_where(api: Api) -> None:
    admin = await api.admin()
    cases = [
        ({"name": "UPPER"}, "body.name"),
        ({"name": "ok", "colour": "red"}, "body.colour"),
        ({"name": 5}, "body.name"),
        ({}, "body.name"),
    ]
    for body, where in cases:
        status, data, _ = await api.call("POST", "/v1/projects", admin, body)
        assert status == 400, body
        assert where in [p["where"] for p in data["error"]["problems"]], data
    headers = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    for raw in (b"{not json", b"[" * 50000, b"\xff\xfe", b'{"name": NaN}', b"1e999999"):
        resp = await api.client.post("/v1/projects", data=raw, headers=headers)
        assert resp.status == 400, raw[:20]
        assert (await resp.json())["error"]["code"] == "invalid_input"
    resp = await api.client.post(
        "/v1/projects",
        data=b'{"name": "a"}',
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "text/plain"},
    )
    assert resp.status == 400


async def test_oversized_body_is_a_413_with_the_error_shape(api: Api) -> None:
    admin = await api.admin()
    big = {"name": "a", "description": "x" * 200_000}
    status, data, headers = await api.call("POST", "/v1/projects", admin, big)
    assert status == 413 and data["error"]["code"] == "too_large"
    assert headers["X-Request-Id"] == data["error"]["request_id"]


async def test_unknown_path_and_method_use_the_error_shape(api: Api) -> None:
    admin = await api.admin()
    status, data, headers = await api.call("GET", "/v1/nothing", admin)
    assert status == 404 and data["error"]["code"] == "not_found" and "X-Request-Id" in headers
    status, data, _ = await api.call("PUT", "/v1/projects", admin, {})
    assert status == 405 and data["error"]["code"] == "method_not_allowed"


async def test_a_deleted_projects_leftovers_are_purged_even_after_a_failure(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleting a project writes the intent to purge what it owned with its removal; a part
    that fails leaves the intent (the delete still answers 204: the project is gone), and
    the purge loop's next pass finishes it. Before, the delete answered the error, skipped
    the other parts, and nothing ever removed what was left."""
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "gone"})
    member = await api.user_with_role("gina", "gone", "member")
    image = await api.ok("POST", "/v1/images", member, {"name": "img", "disk_format": "raw"})
    flavor = {"name": "tiny", "vcpus": 1, "ram_mb": 64, "disk_gb": 1}
    await api.ok("POST", "/v1/flavors", member, flavor)
    project_id = (await api.store.get("project", "gone")).value["id"]

    async def store_busy(app: web.Application, project_id: str) -> None:
        raise TemporaryError("the store is busy")

    with monkeypatch.context() as patched:
        patched.setattr(projects, "PURGE", (store_busy, *projects.PURGE[1:]))
        assert (await api.call("DELETE", "/v1/projects/gone", admin))[0] == 204
    assert (await api.store.get(tenancy.PURGE_KIND, project_id)).value["name"] == "gone"
    assert await list_all(api.store, "image", {"project_id": project_id})  # left, for now
    assert not await list_all(api.store, "flavor", {"project_id": project_id})  # the others ran

    assert api.client.app is not None
    await purges.pass_over(api.client.app, {tenancy.PURGE_KIND: projects.PURGE})  # the loop
    assert not await list_all(api.store, "image", {"project_id": project_id})
    assert not await list_all(api.store, tenancy.PURGE_KIND, {})
    assert (await api.call("GET", f"/v1/images/{image['id']}", admin))[0] == 404
