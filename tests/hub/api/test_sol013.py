"""The SOL013 HTTP layer (:mod:`atoll.hub.api.sol013`) on a small API of its own: Version
checked and returned, API versions, ProblemDetails on every error path, bare-array lists
with filters, selectors and Link paging, merge patch. The hub's real NFV APIs are tested
with it in their own modules (``test_vnfpkgm.py``)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from atoll import error_body
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.errors import Forbidden, NotFound, TooManyRequests, Unauthenticated
from atoll.hub.api import middleware, sol013
from atoll.hub.api.context import HUB
from atoll.hub.api.replies import reply
from atoll.hub.app import build_hub
from atoll.hub.openapi import document
from atoll.hub.store.memory import MemoryStore
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import TEST_SETTINGS

STRICT = sol013.NfvApi("demo", "v1", ("1.0.0", "1.1.0"))
LOOSE = sol013.NfvApi("loose", "v1", ("2.1.0",), version_required=False)
OTHER = sol013.NfvApi("demo", "v2", ("2.0.0",))
APIS = (STRICT, LOOSE, OTHER)
PART = Shape("Part", {"name": Field("string", required=True), "size": Field("integer")})
THING = Shape(
    "Thing",
    {
        "id": Field("string", required=True),
        "state": Field("string", required=True),
        "size": Field("integer", required=True),
        "labels": Field("object", required=True),
        "parts": Field("array", required=True, items=Field("object", shape=PART)),
        "_links": Field("object", required=True),
    },
)
LISTING = sol013.Listing(THING, complex=("labels", "parts"))
PATCH = Shape("ThingModifications", {"state": Field("string"), "labels": Field("object")})
THINGS: list[dict[str, Any]] = [
    {
        "id": f"t{n}",
        "state": "ON" if n % 2 else "OFF",
        "size": n,
        "labels": {"tier": "gold" if n < 3 else "silver"},
        "parts": [{"name": f"p{n}", "size": n * 10}],
    }
    for n in range(1, 6)
]


async def list_things(request: web.Request) -> web.Response:
    query = LISTING.parse(request)
    views: list[dict[str, Any]] = [
        {**t, "_links": sol013.links(request, self=f"/demo/v1/things/{t['id']}")} for t in THINGS
    ]
    after = [t for t in views if query.marker is None or t["id"] > query.marker]
    matching = [t for t in after if query.matches(t)]
    page = matching[: query.limit]
    more = len(matching) > query.limit
    return LISTING.reply(request, page, page[-1]["id"] if more else None, query)


async def show_thing(request: web.Request) -> web.Response:
    raise NotFound(f"thing {request.match_info.get('id')} does not exist")


async def patch_thing(request: web.Request) -> web.Response:
    changes = await sol013.read_merge_patch(request, PATCH)
    return reply(sol013.merge_patch(THINGS[0], changes))


async def refuse(request: web.Request) -> web.Response:
    errors: dict[str, Exception] = {
        "401": Unauthenticated("this call needs a token"),
        "403": Forbidden("your token may not call this"),
        "429": TooManyRequests("slow down", retry_after=7),
        "500": RuntimeError("a bug"),
    }
    raise errors[request.match_info["status"]]


async def upload(request: web.Request) -> web.Response:
    await request.read()
    return reply({})


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey) -> Any:
    settings = replace(TEST_SETTINGS, nfv_page_size=2)
    app = web.Application(middlewares=[middleware.errors, sol013.middleware], client_max_size=1024)
    app[HUB] = build_hub(settings, MemoryStore(), signing_key)
    sol013.install(app, APIS)
    for route in sol013.version_routes(APIS):
        app.router.add_route(route.method, route.path, route.handler)
    for prefix in ("/demo/v1", "/loose/v1"):
        app.router.add_get(f"{prefix}/things", list_things)
        app.router.add_get(prefix + "/things/{id}", show_thing)
        app.router.add_patch(prefix + "/things/{id}", patch_thing)
        app.router.add_get(prefix + "/refuse/{status}", refuse)
        app.router.add_put(prefix + "/upload", upload)
    app.router.add_get("/v1/elsewhere", show_thing)
    return await aiohttp_client(app)


V = {"Version": "1.0.0"}


async def problem(resp: Any, status: int) -> dict[str, Any]:
    """The reply's ProblemDetails, checked for what SOL013 asks of every one."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    assert resp.headers["Version"]
    body: dict[str, Any] = await resp.json(content_type=None)
    assert body["status"] == status
    assert body["detail"] and body["title"] and body["type"].endswith(body["code"])
    assert body["instance"] == resp.url.path
    assert body["request_id"] == resp.headers["X-Request-Id"]
    return body


# -- Version ---------------------------------------------------------------------------------


async def test_version_missing_or_garbage_is_400_and_unserved_is_406(client: Any) -> None:
    missing = await problem(await client.get("/demo/v1/things"), 400)
    assert "Version header is required" in missing["detail"]
    assert "1.0.0, 1.1.0" in missing["detail"]
    garbage = await problem(await client.get("/demo/v1/things", headers={"Version": "x"}), 400)
    assert garbage["problems"][0]["where"] == "headers.Version"
    unserved = await client.get("/demo/v1/things", headers={"Version": "9.0.0"})
    body = await problem(unserved, 406)
    assert body["code"] == "version_not_supported" and "1.1.0" in body["detail"]
    assert unserved.headers["Version"] == "1.1.0"  # the newest, when the asked one is not


async def test_every_answer_carries_the_version_asked_for(client: Any) -> None:
    resp = await client.get("/demo/v1/things", headers={"Version": "1.0.0-impl:atoll"})
    assert resp.status == 200 and resp.headers["Version"] == "1.0.0"
    missing = await client.get("/demo/v1/things/t9", headers=V)
    assert (await problem(missing, 404))["code"] == "not_found"
    assert missing.headers["Version"] == "1.0.0"
    loose = await client.get("/loose/v1/things")  # no Version: the newest (Tacker's v1)
    assert loose.status == 200 and loose.headers["Version"] == "2.1.0"
    await problem(await client.get("/loose/v1/things", headers={"Version": "1.0"}), 400)
    elsewhere = await client.get("/v1/elsewhere")  # outside the NFV APIs: untouched
    assert "Version" not in elsewhere.headers
    assert (await elsewhere.json())["error"]["code"] == "not_found"


async def test_api_versions_per_major_and_per_api_need_no_version(client: Any) -> None:
    one = await client.get("/demo/v1/api_versions")
    assert one.status == 200 and one.headers["Version"] == "1.1.0"
    assert await one.json() == {
        "uriPrefix": "/demo/v1",
        "apiVersions": [
            {"version": "1.0.0", "isDeprecated": False},
            {"version": "1.1.0", "isDeprecated": False},
        ],
    }
    every = await (await client.get("/demo/api_versions")).json()
    assert every["uriPrefix"] == "/demo"
    assert [v["version"] for v in every["apiVersions"]] == ["1.0.0", "1.1.0", "2.0.0"]


def test_an_api_listed_twice_gets_its_version_routes_once() -> None:
    paths = [r.path for r in sol013.version_routes((STRICT, OTHER, STRICT))]
    assert paths == ["/demo/v1/api_versions", "/demo/v2/api_versions", "/demo/api_versions"]


# -- ProblemDetails on every error path --------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 429, 500])
async def test_errors_raised_anywhere_are_problem_details(client: Any, status: int) -> None:
    resp = await client.get(f"/demo/v1/refuse/{status}", headers=V)
    body = await problem(resp, status)
    if status == 500:
        assert "a bug" not in body["detail"] and body["request_id"] in body["detail"]
    if status == 429:
        assert resp.headers["Retry-After"] == "7"
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_framework_refusals_are_problem_details(client: Any) -> None:
    await problem(await client.get("/demo/v1/nothing-here", headers=V), 404)
    await problem(await client.get("/demo/v9/things"), 404)  # an unknown major too
    moved = await client.delete("/demo/v1/things", headers=V)
    assert (await problem(moved, 405))["code"] == "method_not_allowed"
    assert "GET" in moved.headers["Allow"]
    big = await client.put("/demo/v1/upload", data=b"x" * 4096, headers=V)
    assert (await problem(big, 413))["code"] == "too_large"


def test_problem_details_decode_to_the_same_error() -> None:
    error = error_body.decode(404, error_body.encode_problem(NotFound("gone"), "req-1", "/x"))
    assert isinstance(error, NotFound) and "gone (request req-1)" in str(error)
    foreign = error_body.decode(409, {"status": 409, "detail": "Tacker says no"})
    assert "Tacker says no" in str(foreign)


# -- lists -----------------------------------------------------------------------------------


async def page(client: Any, url: str, headers: dict[str, str] | None = None) -> Any:
    resp = await client.get(url, headers=headers or V)
    assert resp.status == 200, await resp.text()
    return resp


async def test_lists_are_bare_arrays_paged_by_link(client: Any) -> None:
    resp = await page(client, "/demo/v1/things?filter=(neq,id,t9)")
    seen: list[str] = []
    while True:
        body = await resp.json()
        assert isinstance(body, list) and len(body) <= 2
        seen += [t["id"] for t in body]
        link = resp.headers.get("Link")
        if link is None:
            break
        assert link.endswith('>; rel="next"')
        url = URL(link[1 : link.index(">")])
        assert url.is_absolute() and url.query["filter"] == "(neq,id,t9)"
        assert url.query["nextpage_opaque_marker"] == seen[-1]
        resp = await page(client, url.path_qs)
    assert seen == ["t1", "t2", "t3", "t4", "t5"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("(eq,state,ON)", ["t1", "t3", "t5"]),
        ("(neq,state,ON)", ["t2", "t4"]),
        ("(in,id,t2,t5)", ["t2", "t5"]),
        ("(nin,id,t1,t2,t3)", ["t4", "t5"]),
        ("(gt,size,3)", ["t4", "t5"]),
        ("(lte,size,2)", ["t1", "t2"]),
        ("(cont,labels/tier,ilv)", ["t3", "t4", "t5"]),
        ("(eq,parts/name,p4)", ["t4"]),
        ("(eq,state,OFF);(gte,size,4)", ["t4"]),
        ("(eq,labels/nothing,x)", []),  # inside a free-form map: absent matches nothing
    ],
)
async def test_filters(client: Any, expr: str, expected: list[str]) -> None:
    found: list[str] = []
    url = "/demo/v1/things?" + str(URL.build(query={"filter": expr}).query_string)
    while url:
        resp = await page(client, url)
        found += [t["id"] for t in await resp.json()]
        link = resp.headers.get("Link")
        url = URL(link[1 : link.index(">")]).path_qs if link else ""
    assert found == expected


@pytest.mark.parametrize(
    ("query", "where", "named"),
    [
        ({"filter": "(eq,colour,red)"}, "filter: (eq,colour,red)", "'colour'"),
        ({"filter": "(eq,parts/weight,1)"}, "filter: (eq,parts/weight,1)", "'parts/weight'"),
        ({"filter": "(like,state,ON)"}, "filter: (like,state,ON)", "'like'"),
        ({"filter": "(gt,size,big)"}, "filter: (gt,size,big)", "'big'"),
        ({"fields": "state"}, "fields", "'state' is not a complex attribute"),
        ({"exclude_fields": "parts/colour"}, "exclude_fields", "'parts/colour'"),
        ({"fields": "labels", "exclude_fields": "parts"}, "exclude_fields", "not both"),
        ({"all_fields": "", "fields": "parts"}, "all_fields", "stands alone"),
        ({"nextpage_opaque_marker": ""}, "query.nextpage_opaque_marker", "previous page"),
    ],
)
async def test_bad_list_queries_are_400_naming_the_attribute(
    client: Any, query: dict[str, str], where: str, named: str
) -> None:
    resp = await client.get("/demo/v1/things", params=query, headers=V)
    body = await problem(resp, 400)
    assert body["problems"][0]["where"] == where
    assert named in body["problems"][0]["what"] or named in body["detail"]


@pytest.mark.parametrize(
    ("query", "keys", "part"),
    [
        ("", {"id", "state", "size", "_links"}, None),
        ("exclude_default", {"id", "state", "size", "_links"}, None),
        ("all_fields", {"id", "state", "size", "_links", "labels", "parts"}, None),
        ("fields=parts", {"id", "state", "size", "_links", "parts"}, {"name": "p1", "size": 10}),
        ("fields=labels/tier", {"id", "state", "size", "_links", "labels"}, None),
        ("exclude_fields=parts", {"id", "state", "size", "_links", "labels"}, None),
    ],
)
async def test_attribute_selectors(
    client: Any, query: str, keys: set[str], part: dict[str, Any] | None
) -> None:
    first = (await (await page(client, f"/demo/v1/things?{query}")).json())[0]
    assert set(first) == keys
    if part is not None:
        assert first["parts"] == [part]
    assert first["_links"]["self"]["href"].endswith("/demo/v1/things/t1")
    assert first["_links"]["self"]["href"].startswith("http://")


# -- merge patch -----------------------------------------------------------------------------


def test_merge_patch_is_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "keep": [1]}
    patch = {"a": "z", "c": {"f": None, "h": {"i": 1}}, "keep": None, "new": [2]}
    assert sol013.merge_patch(target, patch) == {
        "a": "z",
        "c": {"d": "e", "h": {"i": 1}},
        "new": [2],
    }
    assert target["c"] == {"d": "e", "f": "g"}  # unchanged
    assert sol013.merge_patch({"a": 1}, ["x"]) == ["x"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(target=JSON_VALUES, patch=JSON_VALUES)
@settings(max_examples=200, deadline=None)
def test_merge_patch_properties(target: Any, patch: Any) -> None:
    before = json.dumps(target, sort_keys=True)
    once = sol013.merge_patch(target, patch)
    assert json.dumps(target, sort_keys=True) == before  # the target is not changed
    assert sol013.merge_patch(once, patch) == once  # applying a patch twice changes nothing
    if isinstance(patch, dict):
        assert isinstance(once, dict)
        for key, value in patch.items():
            assert (key not in once) if value is None else key in once


async def test_patch_takes_merge_patch_json(client: Any) -> None:
    body = json.dumps({"labels": {"tier": None, "zone": "z1"}})
    for media in ("application/merge-patch+json", "application/json"):
        resp = await client.patch(
            "/demo/v1/things/t1", data=body, headers={**V, "Content-Type": media}
        )
        assert resp.status == 200
        assert (await resp.json())["labels"] == {"zone": "z1"}
    wrong = await client.patch(
        "/demo/v1/things/t1", data=body, headers={**V, "Content-Type": "text/plain"}
    )
    assert "application/merge-patch+json" in (await problem(wrong, 415))["detail"]
    unknown = await client.patch(
        "/demo/v1/things/t1",
        data=json.dumps({"colour": "red"}),
        headers={**V, "Content-Type": "application/merge-patch+json"},
    )
    assert (await problem(unknown, 400))["problems"][0]["where"] == "body.colour"


# -- the OpenAPI document ----------------------------------------------------------------------


def test_document_gives_nfv_operations_problem_details_version_and_link() -> None:
    routes = [
        *sol013.version_routes(APIS),
        sol013_route("GET", "/demo/v1/things", response=LISTING.response(), query=LISTING.query()),
        sol013_route("PATCH", "/demo/v1/things/{id}", body=PATCH, response=THING),
    ]
    doc = document(routes, APIS)
    listed = doc["paths"]["/demo/v1/things"]["get"]
    assert "application/problem+json" in listed["responses"]["4XX"]["content"]
    assert {"Version", "Link"} <= set(listed["responses"]["200"]["headers"])
    version = [p for p in listed["parameters"] if p["name"] == "Version"]
    assert version == [
        {
            "name": "Version",
            "in": "header",
            "required": True,
            "description": "the API version asked for (SOL013); required",
            "schema": {"type": "string", "enum": ["1.0.0", "1.1.0"]},
        }
    ]
    items = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert items["type"] == "array"
    assert set(items["items"]["required"]) == {"id", "state", "size", "_links"}
    assert "required" not in items["items"]["properties"]["parts"]["items"]
    patched = doc["paths"]["/demo/v1/things/{id}"]["patch"]["requestBody"]["content"]
    assert set(patched) == {"application/merge-patch+json", "application/json"}
    versions = doc["paths"]["/demo/v1/api_versions"]["get"]
    assert "parameters" not in versions and versions["security"] == []


def sol013_route(method: str, path: str, **shapes: Any) -> Route:
    async def nothing(request: web.Request) -> web.Response:
        raise NotFound("nothing")

    return Route(method, path, f"demo.{method.lower()}", nothing, "demo", **shapes)
