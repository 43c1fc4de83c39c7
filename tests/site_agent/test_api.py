"""The local API: authentication, the JSON error shape, bad input as 4xx, resource flows."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from atoll.errors import Unauthenticated
from atoll.logs import RequestContext
from atoll.site_agent.api.app import build_app
from atoll.site_agent.api.middleware import CTX
from atoll.site_agent.store import LocalStore
from tests.site_agent.api_harness import make_context


@pytest.fixture
async def api(
    tmp_path: Path, aiohttp_client: Any
) -> AsyncIterator[tuple[TestClient[Any, Any], LocalStore, str]]:
    ctx, store, secret = await make_context(tmp_path)
    client = await aiohttp_client(build_app(ctx))
    try:
        yield client, store, secret
    finally:
        await store.close()


async def _token(client: TestClient[Any, Any], secret: str) -> dict[str, str]:
    resp = await client.post("/v1/auth/tokens", json={"name": "admin", "secret": secret})
    assert resp.status == 201, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


def _assert_error(body: dict[str, Any], code: str) -> dict[str, Any]:
    err: dict[str, Any] = body["error"]
    assert err["code"] == code
    assert err["message"] and err["request_id"]
    return err


async def test_health_is_public_everything_else_needs_a_token(api: Any) -> None:
    client, _, _ = api
    resp = await client.get("/health")
    assert resp.status == 200 and resp.headers["X-Request-Id"]
    resp = await client.get("/v1/servers", headers={"X-Request-Id": "abc-123"})
    assert resp.status == 401
    assert resp.headers["X-Request-Id"] == "abc-123"
    assert _assert_error(await resp.json(), "unauthenticated")["request_id"] == "abc-123"
    resp = await client.get("/v1/servers", headers={"Authorization": "Bearer atl1.bogus.sig"})
    assert resp.status == 401
    _assert_error(await resp.json(), "unauthenticated")


async def test_probes_need_no_token_and_readyz_says_503_when_not_ready(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    ctx, store, _ = await make_context(tmp_path)
    report = {"status": "ok", "checks": {"store": "ok", "hypervisor": "ok"}}

    async def ready() -> dict[str, Any]:
        return report

    client = await aiohttp_client(build_app(dataclasses.replace(ctx, ready=ready)))
    try:
        resp = await client.get("/healthz")
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
        resp = await client.get("/readyz")
        assert resp.status == 200 and await resp.json() == report
        report.update(status="unavailable", checks={"store": "ok", "hypervisor": "failing"})
        resp = await client.get("/readyz")
        assert resp.status == 503 and (await resp.json())["checks"]["hypervisor"] == "failing"
    finally:
        await store.close()


async def test_wrong_credential_is_refused_and_right_one_gives_a_working_token(api: Any) -> None:
    client, _, secret = api
    resp = await client.post("/v1/auth/tokens", json={"name": "admin", "secret": "nope"})
    assert resp.status == 401
    headers = await _token(client, secret)
    resp = await client.get("/v1/flavors", headers=headers)
    assert resp.status == 200
    assert {f["name"] for f in (await resp.json())["items"]} >= {"tiny", "small"}


async def test_bad_input_is_a_4xx_with_problems(api: Any) -> None:
    client, _, secret = api
    h = await _token(client, secret)
    resp = await client.post("/v1/servers", data=b"{not json", headers=h)
    assert resp.status == 400
    _assert_error(await resp.json(), "invalid_input")
    resp = await client.post("/v1/servers", json={"name": "-bad", "vcpus": "x"}, headers=h)
    assert resp.status == 400
    wheres = {p["where"] for p in _assert_error(await resp.json(), "invalid_input")["problems"]}
    assert {"body.name", "body.flavor", "body.vcpus"} <= wheres
    body = {"name": "a", "flavor": "tiny", "nics": [{"network": 7, "vnic_type": "x"}]}
    resp = await client.post("/v1/servers", json=body, headers=h)
    wheres = {p["where"] for p in _assert_error(await resp.json(), "invalid_input")["problems"]}
    assert wheres == {"body.nics[0].network", "body.nics[0].vnic_type"}
    body = {"name": "a", "flavor": "tiny"}  # the rules between fields, once the fields are good
    resp = await client.post("/v1/servers", json=body, headers=h)
    wheres = {p["where"] for p in _assert_error(await resp.json(), "invalid_input")["problems"]}
    assert wheres == {"body.image"}
    resp = await client.get("/v1/nothing-here", headers=h)
    assert resp.status == 404
    _assert_error(await resp.json(), "not_found")
    resp = await client.get("/v1/servers/does-not-exist", headers=h)
    assert resp.status == 404
    resp = await client.post("/v1/servers/x/actions/explode", json={}, headers=h)
    assert resp.status == 404


async def test_bad_specs_fail_clearly_and_leave_nothing(api: Any) -> None:
    client, store, secret = api
    h = await _token(client, secret)
    net = await client.post("/v1/networks", json={"name": "lan"}, headers=h)
    assert net.status == 201, await net.text()
    sub = await client.post(
        "/v1/subnets",
        json={"network": "lan", "cidr": "10.9.0.0/30", "gateway": "10.9.0.1"},
        headers=h,
    )
    assert sub.status == 201, await sub.text()
    base = {"flavor": "tiny", "image": "cirros", "nics": [{"network": "lan"}]}
    cases = [
        ({**base, "name": "a", "flavor": "huge"}, 400, "body.flavor"),
        ({**base, "name": "a", "image": "missing"}, 400, "body.image"),
        ({**base, "name": "a", "nics": [{"network": "nowhere"}]}, 400, "body.nics[0].network"),
    ]
    for body, status, where in cases:
        resp = await client.post("/v1/servers", json=body, headers=h)
        assert resp.status == status, await resp.text()
        problems = (await resp.json())["error"]["problems"]
        assert where in {p["where"] for p in problems}
    # /30 with a gateway holds exactly one address: the second server exhausts it
    first = await client.post("/v1/servers", json={**base, "name": "one"}, headers=h)
    assert first.status == 202, await first.text()
    assert (await first.json())["server"]["networks"][0]["ip"] == "10.9.0.2"
    resp = await client.post("/v1/servers", json={**base, "name": "two"}, headers=h)
    assert resp.status == 400
    assert "no free address" in str(await resp.json())
    dup = await client.post("/v1/servers", json={**base, "name": "one"}, headers=h)
    assert dup.status == 409
    _assert_error(await dup.json(), "duplicate_name")
    servers = (await (await client.get("/v1/servers", headers=h)).json())["items"]
    assert [s["name"] for s in servers] == ["one"]
    assert await store.call(store.table_count, "ipam") == 1
    ports = await store.call(store.list_objects, "port")
    assert len(ports) == 1


async def test_volume_lifecycle_through_the_api(api: Any) -> None:
    client, _, secret = api
    h = await _token(client, secret)
    resp = await client.post("/v1/volumes", json={"name": "data", "size_gb": 1}, headers=h)
    assert resp.status == 202, await resp.text()
    srv = await client.post(
        "/v1/servers", json={"name": "vm", "flavor": "tiny", "image": "cirros"}, headers=h
    )
    assert srv.status == 202
    resp = await client.post("/v1/volumes/data/actions/attach", json={"server": "vm"}, headers=h)
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["volume"]["server"] == (await srv.json())["server"]["id"]
    resp = await client.delete("/v1/volumes/data", headers=h)
    assert resp.status == 409
    resp = await client.post("/v1/volumes/data/actions/extend", json={"size_gb": 1}, headers=h)
    assert resp.status == 400
    resp = await client.post("/v1/volumes/data/actions/extend", json={"size_gb": 2}, headers=h)
    assert (await resp.json())["volume"]["size_gb"] == 2
    resp = await client.post("/v1/volumes/data/actions/detach", json={}, headers=h)
    assert (await resp.json())["volume"]["server"] is None
    resp = await client.delete("/v1/volumes/data", headers=h)
    assert resp.status == 202


async def test_console_and_images(api: Any) -> None:
    client, _, secret = api
    h = await _token(client, secret)
    images = (await (await client.get("/v1/images", headers=h)).json())["items"]
    assert [i["id"] for i in images] == ["cirros"]
    srv = await client.post(
        "/v1/servers", json={"name": "vm", "flavor": "tiny", "image": "cirros"}, headers=h
    )
    sid = (await srv.json())["server"]["id"]
    resp = await client.get("/v1/servers/vm/console", headers=h)
    assert (await resp.json())["console"]["output"] == f"console of {sid}"
    resp = await client.get("/v1/servers/vm/console?lines=1&tail=4", headers=h)
    assert (await resp.json())["console"]["output"] == sid[-4:]  # the end of a longer line
    for query, where in (("lines=0", "query.lines"), ("lines=10001", "query.lines"),
                         ("tail=x", "query.tail")):  # fmt: skip
        resp = await client.get(f"/v1/servers/vm/console?{query}", headers=h)
        problems = _assert_error(await resp.json(), "invalid_input")["problems"]
        assert resp.status == 400 and [p["where"] for p in problems] == [where]


async def test_images_come_by_upload_or_import_never_by_host_path(api: Any, tmp_path: Path) -> None:
    client, _, secret = api
    h = await _token(client, secret)
    data = b"\x7fELF" + bytes(2 << 20)  # streamed: past the JSON body limit
    sha = hashlib.sha256(data).hexdigest()
    body = {"id": "k", "path": str(tmp_path / "agent.db"), "sha256": sha}
    resp = await client.post("/v1/images", json=body, headers=h)
    assert resp.status == 400
    assert "body.path" in {
        p["where"] for p in _assert_error(await resp.json(), "invalid_input")["problems"]
    }

    put = {**h, "X-Image-Sha256": "b" * 64}
    resp = await client.put("/v1/images/k/file", data=data, headers=put)
    assert resp.status == 400
    assert sha not in _assert_error(await resp.json(), "checksum_mismatch")["message"]
    resp = await client.put("/v1/images/k/file", data=data, headers=h)
    assert resp.status == 400  # no declared checksum
    resp = await client.put("/v1/images/k/file", data=data, headers={**h, "X-Image-Sha256": sha})
    assert resp.status == 201 and (await resp.json())["image"]["sha256"] == sha

    (tmp_path / "import" / "k2.bin").write_bytes(data)
    for name in ("../agent.db", "k2.bin/", "missing.bin"):
        body = {"id": "k2", "file": name, "sha256": sha}
        resp = await client.post("/v1/images", json=body, headers=h)
        assert resp.status == 400, name
    body = {"id": "k2", "file": "k2.bin", "sha256": sha}
    resp = await client.post("/v1/images", json=body, headers=h)
    assert resp.status == 201 and (tmp_path / "import" / "k2.bin").read_bytes() == data
    assert not list((tmp_path / "storage" / "tmp").iterdir())  # nothing left staged


async def test_hub_tokens_verify_offline_once_joined(api: Any, tmp_path: Path) -> None:
    from atoll import tokens

    client, _, _ = api
    hub_key = tokens.generate_signing_key()
    now = time.time()
    claims = tokens.Claims("t1", "noc-operator", None, True, ("admin",), now, now + 600)
    hub_token = tokens.TokenSigner(hub_key).sign(claims)
    h = {"Authorization": f"Bearer {hub_token}"}
    # not joined yet: the hub's key is unknown, so its tokens are refused
    resp = await client.get("/v1/servers", headers=h)
    assert resp.status == 401
    # joining stores the hub's public key in the data dir; verification is offline
    (tmp_path / "hub_public_key.pem").write_bytes(tokens.public_key_pem(hub_key.public_key()))
    auth = client.app[CTX].auth
    assert auth.joined
    resp = await client.get("/v1/servers", headers=h)  # the new key file is picked up
    assert resp.status == 200
    stale = tokens.TokenSigner(hub_key).sign(
        tokens.Claims("t2", "noc-operator", None, True, ("admin",), now - 700, now - 100)
    )
    resp = await client.get("/v1/servers", headers={"Authorization": f"Bearer {stale}"})
    assert resp.status == 401
    assert "expired" in (await resp.json())["error"]["message"]
    other = tokens.TokenSigner(tokens.generate_signing_key()).sign(claims)
    resp = await client.get("/v1/servers", headers={"Authorization": f"Bearer {other}"})
    assert resp.status == 401


async def test_hub_revocations_refuse_hub_tokens_and_persist(api: Any, tmp_path: Path) -> None:
    from atoll import tokens
    from atoll.site_agent.auth import Authenticator

    client, store, secret = api
    hub_key = tokens.generate_signing_key()
    (tmp_path / "hub_public_key.pem").write_bytes(tokens.public_key_pem(hub_key.public_key()))
    auth = client.app[CTX].auth
    await store.call(auth.reload_trust_blocking)
    now = time.time()

    def hub_token(token_id: str, user: str) -> str:
        claims = tokens.Claims(token_id, user, None, True, ("admin",), now, now + 600)
        return tokens.TokenSigner(hub_key).sign(claims)

    out, alice, bob = (
        hub_token("t-out", "carol"),
        hub_token("t-a", "alice"),
        hub_token("t-b", "bob"),
    )
    local = await _token(client, secret)
    entries = [
        {"subject": "token", "value": "t-out", "revoked_at": now, "prune_after": now + 3600},
        {"subject": "user", "value": "alice", "revoked_at": now + 1, "prune_after": now + 3600},
        {"subject": "user", "value": "local:admin", "revoked_at": now + 1},  # not the hub's
        {"subject": "nonsense"},
    ]
    assert await store.call(auth.set_revocations_blocking, entries) == 3
    for token in (out, alice):
        resp = await client.get("/v1/servers", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401
        assert "revoked" in _assert_error(await resp.json(), "unauthenticated")["message"]
    assert (
        await client.get("/v1/servers", headers={"Authorization": f"Bearer {bob}"})
    ).status == 200
    assert (await client.get("/v1/servers", headers=local)).status == 200
    # kept in the store: a restarted agent refuses them before it reaches the hub again
    again = Authenticator(store, tmp_path)
    await store.call(again.bootstrap_blocking)
    with pytest.raises(Unauthenticated):
        again.verify(alice)
    assert again.verify(bob).user == "bob"
    await store.call(auth.set_revocations_blocking, [])  # pruned on the hub: gone here too
    assert auth.verify(alice).user == "alice"


async def test_hub_token_roles_and_scope_decide_what_it_may_do(api: Any, tmp_path: Path) -> None:
    from atoll import tokens

    client, store, _ = api
    hub_key = tokens.generate_signing_key()
    (tmp_path / "hub_public_key.pem").write_bytes(tokens.public_key_pem(hub_key.public_key()))
    await store.call(client.app[CTX].auth.reload_trust_blocking)
    now = time.time()

    def bearer(project: str | None, roles: tuple[str, ...]) -> dict[str, str]:
        claims = tokens.Claims("t", "u", project, project is None, roles, now, now + 600)
        return {"Authorization": f"Bearer {tokens.TokenSigner(hub_key).sign(claims)}"}

    reader = bearer(None, ("reader",))
    assert (await client.get("/v1/servers", headers=reader)).status == 200
    resp = await client.post("/v1/networks", json={"name": "x"}, headers=reader)
    assert resp.status == 403
    # a console holds what the guest printed: members and admins, as Nova (and the hub)
    assert (await client.get("/v1/servers/vm/console", headers=reader)).status == 403
    assert "admin or member" in (await resp.json())["error"]["message"]
    assert (
        await client.post("/v1/networks", json={"name": "x"}, headers=bearer(None, ("member",)))
    ).status == 201
    tenant = bearer("project-1", ("admin",))
    resp = await client.get("/v1/servers", headers=tenant)
    assert resp.status == 403
    assert "system-scoped" in (await resp.json())["error"]["message"]


async def test_openapi_document_matches_the_routes(api: Any) -> None:
    client, _, _ = api
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    documented = {(m.upper(), p) for p, ops in (await resp.json())["paths"].items() for m in ops}
    served = {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    assert documented == served


async def test_every_request_is_logged_once_with_its_id_and_creations_with_theirs(
    api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The request id a client sees finds the request's line, and what it made, in the log."""
    client, _, secret = api
    h = await _token(client, secret)
    caplog.set_level("INFO")
    caplog.handler.addFilter(RequestContext())  # as the daemon's own handlers have it
    caplog.clear()
    resp = await client.post("/v1/networks", json={"name": "logged"}, headers=h)
    assert resp.status == 201, await resp.text()
    rid, made = resp.headers["X-Request-Id"], (await resp.json())["network"]["id"]
    mine = [r for r in caplog.records if getattr(r, "request_id", None) == rid]
    requests = [r for r in mine if getattr(r, "route", None) is not None]
    assert len(requests) == 1
    line = vars(requests[0])
    assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/networks", 201)
    assert line["principal"] == "local:admin" and line["duration_ms"] >= 0
    created = [r for r in mine if r.getMessage().startswith("created network")]
    assert [getattr(r, "id", None) for r in created] == [made]
    caplog.clear()
    resp = await client.get("/v1/networks/nope", headers={**h, "X-Request-Id": "find-me-42"})
    assert resp.status == 404
    found = [vars(r) for r in caplog.records if getattr(r, "request_id", "") == "find-me-42"]
    assert [(r["status"], r["principal"]) for r in found] == [(404, "local:admin")]
    caplog.clear()
    assert (await client.delete(f"/v1/networks/{made}", headers=h)).status in (200, 202, 204)
    assert [
        getattr(r, "id", None) for r in caplog.records if "deleting network" in r.getMessage()
    ] == [made]
