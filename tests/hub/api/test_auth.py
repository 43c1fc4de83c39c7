"""Issuing, checking and revoking tokens through the API."""

from __future__ import annotations

from atoll.tokens import TokenVerifier, load_public_key_pem
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, Api


async def test_password_login_gives_a_system_token_that_works(api: Api) -> None:
    status, data, headers = await api.call(
        "POST", "/v1/auth/tokens", body={"user": ADMIN, "password": ADMIN_PASSWORD}
    )
    assert status == 201
    assert data["system"] is True and data["roles"] == ["admin"] and data["project"] is None
    assert headers["X-Subject-Token"] == data["token"]
    me = await api.ok("GET", "/v1/auth/tokens/current", data["token"])
    assert me["user"] == ADMIN and me["id"] == data["id"] and "token" not in me


async def test_wrong_password_and_unknown_user_look_the_same(api: Api) -> None:
    bad = await api.call("POST", "/v1/auth/tokens", body={"user": ADMIN, "password": "nope"})
    ghost = await api.call("POST", "/v1/auth/tokens", body={"user": "ghost", "password": "x"})
    assert bad[0] == ghost[0] == 401
    assert bad[1]["error"]["message"] == ghost[1]["error"]["message"]
    assert "nope" not in str(bad)


async def test_token_from_offline_verification_matches(api: Api, signing_key: object) -> None:
    token = await api.admin()
    verifier = TokenVerifier([signing_key.public_key()])  # type: ignore[attr-defined]
    claims = verifier.verify(token, api.clock.now)
    assert claims.user == ADMIN and claims.system


async def test_missing_bad_tampered_and_expired_tokens_get_401(api: Api) -> None:
    token = await api.admin()
    payload = token.split(".")[1]
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    tampered = token.replace(payload, flipped)
    for bad in (None, "garbage", tampered, token + "x"):
        status, data, headers = await api.call("GET", "/v1/projects", bad)
        assert status == 401, bad
        assert data["error"]["code"] == "unauthenticated"
        assert headers["X-Request-Id"] == data["error"]["request_id"]
    api.clock.now += 3601
    status, data, _ = await api.call("GET", "/v1/projects", token)
    assert status == 401 and "expired" in data["error"]["message"]


async def test_x_auth_token_header_works_like_bearer(api: Api) -> None:
    token = await api.admin()
    resp = await api.client.get("/v1/projects", headers={"X-Auth-Token": token})
    assert resp.status == 200


async def test_revoking_own_token_and_all_of_a_users_tokens(api: Api) -> None:
    first = await api.admin()
    assert (await api.call("DELETE", "/v1/auth/tokens/current", first))[0] == 204
    assert (await api.call("GET", "/v1/projects", first))[0] == 401
    api.tokens.clear()
    api.clock.now += 1
    second = await api.admin()
    assert (await api.call("GET", "/v1/projects", second))[0] == 200
    revocation = await api.ok(
        "POST", "/v1/revocations", second, {"subject": "user", "value": ADMIN}
    )
    assert revocation["subject"] == "user"
    assert (await api.call("GET", "/v1/projects", second))[0] == 401
    api.tokens.clear()
    api.clock.now += 1
    third = await api.admin()
    listed = await api.ok("GET", "/v1/revocations", third)
    assert {(r["subject"], r["value"]) for r in listed["items"]} >= {("user", ADMIN)}


async def test_token_exchange_never_outlives_the_original(api: Api) -> None:
    token = await api.admin()
    api.clock.now += 3000
    status, data, _ = await api.call("POST", "/v1/auth/tokens", body={"token": token})
    assert status == 201
    original = await api.ok("GET", "/v1/auth/tokens/current", token)
    assert data["expires_at"] == original["expires_at"]


async def test_token_request_needs_exactly_one_method(api: Api) -> None:
    for body in ({}, {"user": ADMIN}, {"token": "x", "user": ADMIN, "password": "p"}):
        status, data, _ = await api.call("POST", "/v1/auth/tokens", body=body)
        assert status == 400, body
        assert data["error"]["code"] == "invalid_input"


async def test_password_guessing_is_slowed_down(api: Api) -> None:
    for _ in range(5):
        bad = await api.call("POST", "/v1/auth/tokens", body={"user": ADMIN, "password": "guess"})
        assert bad[0] == 401
    right = {"user": ADMIN, "password": ADMIN_PASSWORD}
    status, data, headers = await api.call("POST", "/v1/auth/tokens", body=right)
    assert status == 429 and data["error"]["code"] == "too_many_requests"
    assert int(headers["Retry-After"]) > 0
    api.clock.now += 61
    assert (await api.call("POST", "/v1/auth/tokens", body=right))[0] == 201


async def test_published_keys_verify_issued_tokens_offline(api: Api) -> None:
    status, data, _ = await api.call("GET", "/v1/auth/keys")
    assert status == 200 and len(data["keys"]) == 1
    key = load_public_key_pem(data["keys"][0]["public_key_pem"].encode())
    claims = TokenVerifier([key]).verify(await api.admin(), api.clock.now)
    assert claims.user == ADMIN and claims.key_id == data["keys"][0]["kid"]
