"""SOL005 ``/vnfpkgm/v1`` as ETSI clients see it, through the hub's SOL013 layer: Version,
API versions, ProblemDetails on every error path, bare-array lists with Link paging,
filters and attribute selectors, merge patch, ``_links``, checksums, artifacts."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from yarl import URL

from tests.hub.api.test_vnf_packages import ONE_FILE_SHA256, projects
from tests.hub.api.vnf_packages import (
    BASE,
    ONE_FILE_VNFD,
    catalog_image,
    create,
    fetch,
    package_api,
    put_content,
    upload,
    wait_onboarded,
)
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import Api

SCRIPT = b"#!/bin/sh\necho configured\n"


@pytest.fixture
async def papi(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> Api:
    return await package_api(aiohttp_client, signing_key, tmp_path / "hub")


def one_file_csar() -> bytes:
    """The same bytes at every call: entries carry a fixed time, not the clock's (a zip's
    2-second timestamps made two calls differ, and a checksum compared across them fail)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (("vnfd.yaml", ONE_FILE_VNFD), ("Scripts/install.sh", SCRIPT)):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


async def onboarded(api: Api, token: str) -> dict[str, Any]:
    await catalog_image(api, "a", "one-file-image", sha256=ONE_FILE_SHA256)
    package = await upload(api, token, one_file_csar())
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    return package


async def raw_call(
    api: Api, method: str, path: str, token: str | None, **kwargs: Any
) -> tuple[int, Any, Any]:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    resp = await api.client.request(method, path, headers=headers, **kwargs)
    body = await resp.json(content_type=None) if resp.content_type.endswith("json") else None
    return resp.status, body, resp


def assert_problem(status: int, body: Any, resp: Any, want: int) -> None:
    assert status == want, body
    assert resp.content_type == "application/problem+json"
    assert resp.headers["Version"] == "2.1.0"
    assert body["status"] == want and body["detail"] and body["title"]
    assert body["instance"] == resp.url.path and body["request_id"] == resp.headers["X-Request-Id"]


async def test_api_versions_and_the_version_header(papi: Api) -> None:
    who = await projects(papi)
    for path, prefix in (
        ("/vnfpkgm/v1/api_versions", "/vnfpkgm/v1"),
        ("/vnfpkgm/api_versions", "/vnfpkgm"),
    ):
        status, body, resp = await raw_call(papi, "GET", path, None)
        assert status == 200 and resp.headers["Version"] == "2.1.0"
        assert body == {
            "uriPrefix": prefix,
            "apiVersions": [{"version": "2.1.0", "isDeprecated": False}],
        }
    status, body, resp = await raw_call(papi, "GET", BASE, who["a"])  # tackerclient sends none
    assert status == 200 and resp.headers["Version"] == "2.1.0"
    status, body, resp = await raw_call(papi, "GET", BASE, who["a"], headers={"Version": "2.1.0"})
    assert status == 200 and resp.headers["Version"] == "2.1.0"
    status, body, resp = await raw_call(papi, "GET", BASE, who["a"], headers={"Version": "two"})
    assert_problem(status, body, resp, 400)
    assert body["problems"] == [
        {"where": "headers.Version", "what": "'two' is not a version (like 2.0.0)"}
    ]
    status, body, resp = await raw_call(papi, "GET", BASE, who["a"], headers={"Version": "1.3.0"})
    assert_problem(status, body, resp, 406)
    assert "served: 2.1.0" in body["detail"]


async def test_every_error_path_is_problem_details(papi: Api) -> None:
    who = await projects(papi)
    package = await create(papi, who["a"])
    item = f"{BASE}/{package['id']}"
    cases: list[tuple[int, str, str, str | None, dict[str, Any]]] = [
        (401, "GET", BASE, None, {}),
        (401, "GET", BASE, "not-a-token", {}),
        (403, "POST", BASE, who["reader"], {"json": {}}),
        (404, "GET", f"{BASE}/{'0' * 32}", who["a"], {}),
        (404, "GET", item, who["b"], {}),  # another project's
        (404, "GET", "/vnfpkgm/v1/no_such_thing", who["a"], {}),
        (404, "GET", "/vnfpkgm/v3/vnf_packages", who["a"], {}),
        (400, "POST", f"{item}/package_content/upload_from_uri", who["a"], {"json": {}}),
        (405, "DELETE", BASE, who["a"], {}),
        (400, "POST", BASE, who["a"], {"json": {"colour": "red"}}),
        (400, "GET", f"{BASE}?filter=(eq,colour,red)", who["a"], {}),
        (409, "GET", f"{item}/vnfd", who["a"], {}),
        (
            413,
            "POST",
            BASE,
            who["a"],
            {"data": b"{" + b" " * 70000 + b"}", "headers": {"Content-Type": "application/json"}},
        ),
        (415, "PATCH", item, who["a"], {"data": b"{}", "headers": {"Content-Type": "text/plain"}}),
        (
            415,
            "PUT",
            f"{item}/package_content",
            who["a"],
            {"data": b"PK", "headers": {"Content-Type": "text/plain"}},
        ),
    ]
    for want, method, path, token, kwargs in cases:
        status, body, resp = await raw_call(papi, method, path, token, **kwargs)
        assert_problem(status, body, resp, want)
    status, body, resp = await raw_call(papi, "GET", BASE, None)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    status, body, resp = await raw_call(papi, "DELETE", BASE, who["a"])
    assert "POST" in resp.headers["Allow"]


async def test_lists_page_by_link_filter_and_select(papi: Api) -> None:
    who = await projects(papi)
    made = [
        await create(papi, who["a"], {"n": str(n), "team": "core" if n < 3 else "edge"})
        for n in range(5)
    ]
    await create(papi, who["b"], {"n": "other"})
    ids: list[str] = []
    url = f"{BASE}?filter=(eq,onboardingState,CREATED)"
    while url:
        status, body, resp = await raw_call(papi, "GET", url, who["a"])
        assert status == 200 and isinstance(body, list) and len(body) <= 2
        ids += [p["id"] for p in body]
        link = resp.headers.get("Link")
        if link is None:
            break
        target = URL(link[1 : link.index('>; rel="next"')])
        assert target.is_absolute() and target.query["filter"] == "(eq,onboardingState,CREATED)"
        url = target.path_qs
    assert sorted(ids) == sorted(p["id"] for p in made)  # only project a's, each once

    async def listed(query: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        url = f"{BASE}?{query}"
        while url:
            status, body, resp = await raw_call(papi, "GET", url, who["a"])
            assert status == 200, body
            found += body
            link = resp.headers.get("Link")
            url = URL(link[1 : link.index(">")]).path_qs if link else ""
        return found

    edge = await listed("filter=(eq,userDefinedData/team,edge)")
    assert sorted(p["id"] for p in edge) == sorted(p["id"] for p in made[3:])
    assert [
        p["id"]
        for p in await listed("filter=(in,userDefinedData/n,1,4);(neq,userDefinedData/team,core)")
    ] == [made[4]["id"]]
    assert len(await listed("filter=(cont,userDefinedData/team,dg)")) == 2
    plain = (await listed("filter=(eq,userDefinedData/n,0)"))[0]
    assert (
        "userDefinedData" not in plain and "softwareImages" not in plain and "checksum" not in plain
    )
    assert {"id", "onboardingState", "operationalState", "usageState", "_links"} <= set(plain)
    assert (await listed("filter=(eq,userDefinedData/n,0)&fields=userDefinedData"))[0][
        "userDefinedData"
    ] == {"n": "0", "team": "core"}
    full = (await listed("filter=(eq,userDefinedData/n,0)&all_fields"))[0]
    assert {"userDefinedData", "softwareImages", "additionalArtifacts", "checksum"} <= set(full)
    less = (await listed("filter=(eq,userDefinedData/n,0)&exclude_fields=softwareImages"))[0]
    assert "userDefinedData" in less and "softwareImages" not in less
    assert "userDefinedData" not in (await listed("exclude_default"))[0]
    for query, where in (
        ("fields=vnfdId", "fields"),
        ("filter=(eq,vnfColour,x)", "filter: (eq,vnfColour,x)"),
        ("fields=userDefinedData&exclude_fields=checksum", "exclude_fields"),
    ):
        status, body, resp = await raw_call(papi, "GET", f"{BASE}?{query}", who["a"])
        assert_problem(status, body, resp, 400)
        assert body["problems"][0]["where"] == where


async def test_a_package_through_its_life_as_sol005_shows_it(papi: Api) -> None:
    who = await projects(papi)
    package = await onboarded(papi, who["a"])
    item = f"{BASE}/{package['id']}"
    links = package["_links"]
    assert links["self"]["href"].endswith(item) and links["self"]["href"].startswith("http")
    assert links["vnfd"]["href"].endswith(f"{item}/vnfd")
    assert links["packageContent"]["href"].endswith(f"{item}/package_content")
    content = one_file_csar()
    assert package["checksum"] == {
        "algorithm": "SHA-256",
        "hash": hashlib.sha256(content).hexdigest(),
    }
    (image,) = package["softwareImages"]
    assert image["checksum"] == {"algorithm": "SHA-256", "hash": ONE_FILE_SHA256}
    assert package["additionalArtifacts"] == [
        {
            "artifactPath": "Scripts/install.sh",
            "checksum": {"algorithm": "SHA-256", "hash": hashlib.sha256(SCRIPT).hexdigest()},
        }
    ]
    status, raw, media = await fetch(papi, f"{item}/artifacts/Scripts/install.sh", who["reader"])
    assert status == 200 and raw == SCRIPT and media == "application/octet-stream"
    status, raw, _ = await fetch(papi, f"{item}/artifacts/vnfd.yaml", who["a"])
    assert status == 404  # the VNFD is GET .../vnfd, not an artifact
    status, _, _ = await fetch(papi, f"{item}/artifacts/Scripts/install.sh", who["b"])
    assert status == 404

    patch = json.dumps(
        {"operationalState": "DISABLED", "userDefinedData": {"team": "core", "gone": None}}
    )
    status, body, resp = await raw_call(
        papi,
        "PATCH",
        item,
        who["a"],
        data=patch,
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert status == 200 and body == json.loads(patch)  # SOL005: the modifications
    shown = await papi.ok("GET", item, who["a"])
    assert shown["operationalState"] == "DISABLED" and shown["userDefinedData"] == {"team": "core"}
    status, body, resp = await raw_call(
        papi,
        "PATCH",
        item,
        who["a"],
        data=json.dumps({"userDefinedData": {"team": None}}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert (await papi.ok("GET", item, who["a"]))["userDefinedData"] == {}
    status, body, resp = await raw_call(papi, "DELETE", item, who["a"])
    assert status == 204 and resp.headers["Version"] == "2.1.0"


async def test_the_hub_fetches_a_package_only_from_allowed_hosts(
    aiohttp_client: AiohttpClient,
    aiohttp_server: Any,
    signing_key: Ed25519PrivateKey,
    tmp_path: Path,
) -> None:
    seen: list[str | None] = []

    async def serve(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization"))
        if request.path == "/moved.zip":
            raise web.HTTPFound("/package.zip")
        return web.Response(body=one_file_csar(), content_type="application/zip")

    files = web.Application()
    files.router.add_get("/{name}", serve)
    server = await aiohttp_server(files)
    api = await package_api(
        aiohttp_client, signing_key, tmp_path / "hub", vnf_package_uri_hosts=("127.0.0.1:*",)
    )
    who = await projects(api)
    await catalog_image(api, "a", "one-file-image", sha256=ONE_FILE_SHA256)

    async def fetch_into(uri: str, **more: Any) -> tuple[int, Any]:
        package = await create(api, who["a"])
        body = {"addressInformation": uri, **more}
        path = f"{BASE}/{package['id']}/package_content/upload_from_uri"
        status, data, _ = await api.call("POST", path, who["a"], body)
        return status, (data, package["id"])

    status, (data, _) = await fetch_into(f"http://localhost:{server.port}/package.zip")
    assert status == 403 and "vnf_package_uri_hosts" in data["detail"]  # not on the list
    status, (data, _) = await fetch_into("file:///etc/passwd")
    assert status == 400 and data["problems"][0]["where"] == "body.addressInformation"
    status, (data, package_id) = await fetch_into(f"http://127.0.0.1:{server.port}/moved.zip")
    assert status == 400 and "HTTP 302" in data["problems"][0]["what"]
    assert (await api.ok("GET", f"{BASE}/{package_id}", who["a"]))["onboardingState"] == "CREATED"
    status, (data, package_id) = await fetch_into(
        f"http://127.0.0.1:{server.port}/package.zip",
        authType=["BASIC"],
        userName="vendor",
        password="s3cret",
    )
    assert status == 202, data
    package = await wait_onboarded(api, who["a"], package_id)
    assert package["onboardingState"] == "ONBOARDED", package["onboardingFailureDetails"]
    assert package["checksum"]["hash"] == hashlib.sha256(one_file_csar()).hexdigest()
    assert seen[-1] == "Basic " + base64.b64encode(b"vendor:s3cret").decode()


async def test_links_name_the_hubs_public_url(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    public = "https://hub.example:8470"
    api = await package_api(aiohttp_client, signing_key, tmp_path / "hub", public_url=public)
    who = await projects(api)
    made = [await create(api, who["a"]) for _ in range(3)]
    assert made[0]["_links"]["self"]["href"] == f"{public}{BASE}/{made[0]['id']}"
    status, body, resp = await raw_call(api, "GET", f"{BASE}?exclude_default", who["a"])
    assert status == 200 and len(body) == 2
    assert resp.headers["Link"].startswith(
        f"<{public}{BASE}?exclude_default=&nextpage_opaque_marker="
    )


async def test_an_upload_over_the_limit_is_a_problem_details_413(papi: Api) -> None:
    who = await projects(papi)
    package = await create(papi, who["a"])
    status, body = await put_content(papi, who["a"], package["id"], b"P" * (2 * 1024 * 1024))
    assert (
        status == 413 and body["code"] == "too_large" and "max_vnf_package_bytes" in body["detail"]
    )
