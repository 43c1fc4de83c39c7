"""Users, role assignments and application credentials: what an operator and a tenant see."""

from __future__ import annotations

import logging
import uuid

import pytest

from atoll import ids
from tests.hub.hubtest import ADMIN_PASSWORD, Api


async def test_passwords_never_come_back_and_changing_one_ends_sessions(api: Api) -> None:
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    alice = await api.user_with_role("alice", "a", "member")
    shown = await api.ok("GET", "/v1/users/alice", admin)
    listed = await api.ok("GET", "/v1/users", admin)
    assert "alice-password" not in str(shown) + str(listed)
    assert not any(k.startswith("_") or "password" in k for k in shown)
    api.clock.now += 1
    await api.ok("PATCH", "/v1/users/alice", admin, {"password": "new-password"})
    assert (await api.call("GET", "/v1/projects", alice))[0] == 401
    api.tokens.clear()
    api.clock.now += 1
    assert await api.token("alice", "new-password", "a")
    status, _, _ = await api.call(
        "POST", "/v1/auth/tokens", body={"user": "alice", "password": "alice-password"}
    )
    assert status == 401


async def test_disabled_and_deleted_users_cannot_log_in(api: Api) -> None:
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    token = await api.user_with_role("bob", "a", "member")
    api.clock.now += 1
    await api.ok("PATCH", "/v1/users/bob", admin, {"enabled": False})
    assert (await api.call("GET", "/v1/projects", token))[0] == 401
    login = {"user": "bob", "password": "bob-password", "project": "a"}
    status, data, _ = await api.call("POST", "/v1/auth/tokens", body=login)
    assert status == 401 and "disabled" in data["error"]["message"]
    assert (await api.call("DELETE", "/v1/users/bob", admin))[0] == 204
    assert (await api.ok("GET", "/v1/role_assignments?user=bob", admin))["items"] == []
    status, data, _ = await api.call("DELETE", "/v1/users/admin", admin)
    assert status == 409 and "your own" in data["error"]["message"]


async def test_project_admin_manages_roles_in_own_project_only(api: Api) -> None:
    admin = await api.admin()
    for name in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": name})
    boss = await api.user_with_role("boss", "a", "admin")
    await api.ok("POST", "/v1/users", admin, {"name": "carl", "password": "carl-pass"})
    granted = await api.ok(
        "POST", "/v1/role_assignments", boss, {"user": "carl", "project": "a", "role": "reader"}
    )
    assert granted["id"] == "carl:project:a:reader"
    for body in (
        {"user": "carl", "project": "b", "role": "reader"},
        {"user": "carl", "system": True, "role": "admin"},
    ):
        status, _, _ = await api.call("POST", "/v1/role_assignments", boss, body)
        assert status == 403, body
    carl = await api.token("carl", "carl-pass", "a")
    assert (await api.ok("GET", "/v1/auth/tokens/current", carl))["roles"] == ["reader"]
    api.clock.now += 1
    await api.ok("DELETE", "/v1/role_assignments/carl:project:a:reader", boss)
    assert (await api.call("GET", "/v1/projects/a", carl))[0] == 401  # its roles changed
    status, data, _ = await api.call(
        "POST", "/v1/auth/tokens", body={"user": "carl", "password": "carl-pass", "project": "a"}
    )
    message = data["error"]["message"]
    assert status == 401 and message == "project a does not exist or user carl has no role on it"


async def test_application_credential_lifecycle(api: Api) -> None:
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    boss = await api.user_with_role("boss", "a", "admin")
    await api.ok(
        "POST", "/v1/role_assignments", admin, {"user": "boss", "project": "a", "role": "reader"}
    )
    api.tokens.clear()
    boss = await api.token("boss", "boss-password", "a")
    cred = await api.ok(
        "POST", "/v1/application_credentials", boss, {"name": "ci", "roles": ["reader"]}
    )
    secret = cred["secret"]
    listed = await api.ok("GET", "/v1/application_credentials", boss)
    shown = await api.ok("GET", f"/v1/application_credentials/{cred['id']}", boss)
    assert secret not in str(listed) + str(shown) and "secret" not in shown
    auth = {"application_credential_id": cred["id"], "application_credential_secret": secret}
    status, issued, _ = await api.call("POST", "/v1/auth/tokens", body=auth)
    assert status == 201
    assert issued["project"] == "a" and issued["roles"] == ["reader"]
    assert issued["application_credential"] == cred["id"]
    robot = issued["token"]
    assert (await api.call("POST", "/v1/projects/a", robot))[0] == 405
    status, _, _ = await api.call(
        "PATCH", "/v1/projects/a", robot, {"description": "robots may not"}
    )
    assert status == 403
    status, _, _ = await api.call("POST", "/v1/auth/tokens", body={"token": robot})
    assert status == 401  # no rescoping a credential's token
    wrong = {
        **auth,
        "application_credential_secret": ("y" if secret[0] == "x" else "x") + secret[1:],
    }
    assert (await api.call("POST", "/v1/auth/tokens", body=wrong))[0] == 401
    status, _, _ = await api.call(
        "POST", "/v1/application_credentials", boss, {"name": "x", "roles": ["member"]}
    )
    assert status == 403  # boss does not hold member
    await api.ok("DELETE", f"/v1/application_credentials/{cred['id']}", boss)
    assert (await api.call("GET", "/v1/projects/a", robot))[0] == 401
    assert (await api.call("POST", "/v1/auth/tokens", body=auth))[0] == 401


async def test_application_credential_expiry(api: Api) -> None:
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    member = await api.user_with_role("m", "a", "member")
    status, data, _ = await api.call(
        "POST",
        "/v1/application_credentials",
        member,
        {"name": "old", "expires_at": "2001-01-01T00:00:00Z"},
    )
    assert status == 400 and data["error"]["problems"][0]["where"] == "body.expires_at"
    cred = await api.ok(
        "POST",
        "/v1/application_credentials",
        member,
        {"name": "soon", "expires_at": "2030-03-17T18:00:00Z"},
    )
    auth = {
        "application_credential_id": cred["id"],
        "application_credential_secret": cred["secret"],
    }
    issued = (await api.call("POST", "/v1/auth/tokens", body=auth))[1]
    assert issued["expires_at"] <= "2030-03-17T18:00:00Z"
    api.clock.now = 1_900_000_000 + 10**8
    assert (await api.call("POST", "/v1/auth/tokens", body=auth))[0] == 401


async def test_secrets_stay_out_of_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    member = await api.user_with_role("m", "a", "member")
    cred = await api.ok("POST", "/v1/application_credentials", member, {"name": "c"})
    join = await api.ok("POST", "/v1/join_tokens", admin, {"site": "s"})
    await api.call("POST", "/v1/auth/tokens", body={"user": "m", "password": "wrong-guess"})
    await api.ok("DELETE", "/v1/auth/tokens/current", member)
    logged = caplog.text
    assert "password authentication failed for user m" in logged
    for secret in (
        ADMIN_PASSWORD,
        "m-password",
        "wrong-guess",
        admin,
        member,
        cred["secret"],
        join["token"],
    ):
        assert secret not in logged


async def test_users_change_their_own_password(api: Api) -> None:
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    token = await api.user_with_role("dana", "a", "reader")
    change = {"current_password": "dana-password", "new_password": "dana-new-password"}
    api.clock.now += 1
    assert (await api.call("POST", "/v1/auth/password", token, change))[0] == 204
    assert (await api.call("GET", "/v1/projects", token))[0] == 401
    api.tokens.clear()
    api.clock.now += 1
    fresh = await api.token("dana", "dana-new-password", "a")
    status, data, _ = await api.call("POST", "/v1/auth/password", fresh, change)
    assert status == 403 and "current password is wrong" in data["error"]["message"]


async def test_every_id_the_hub_mints_is_a_hub_id(api: Api) -> None:
    """One id form (atoll.ids): 32 hex digits, a UUIDv4, which no site id can ever equal."""
    admin = await api.admin()
    project = await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    boss_token = await api.user_with_role("boss", "a", "admin")
    user = await api.ok("GET", "/v1/users/boss", admin)
    flavor = await api.ok(
        "POST", "/v1/flavors", admin, {"name": "f1", "vcpus": 1, "ram_mb": 512, "disk_gb": 1}
    )
    cred = await api.ok("POST", "/v1/application_credentials", boss_token, {"name": "ci"})
    for made in (project, user, flavor, cred):
        assert ids.is_id(made["id"]) and ids.origin_of(made["id"]) == "hub", made
        assert uuid.UUID(made["id"]).version == 4 and "-" not in made["id"]
    status, body, _ = await api.call("GET", "/v1/application_credentials/nope", boss_token)
    assert status == 400 and body["error"]["code"] == "invalid_input"
    assert "path.id" in body["error"]["message"], body


async def test_a_credential_left_by_a_deleted_user_or_project_is_dead(api: Api) -> None:
    """Credentials name their user and project by id: one a race left behind (its user or
    project deleted and made again under the same name) issues nothing."""
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    token = await api.user_with_role("carol", "a", "member")
    cred = await api.ok("POST", "/v1/application_credentials", token, {"name": "ci"})
    auth = {
        "application_credential_id": cred["id"],
        "application_credential_secret": cred["secret"],
    }
    assert (await api.call("POST", "/v1/auth/tokens", body=auth))[0] == 201
    record = await api.store.get("application_credential", cred["id"])
    for stale in ({"user_id": "0" * 32}, {"project_id": "0" * 32}):
        await api.store.put("application_credential", cred["id"], {**record.value, **stale})
        assert (await api.call("POST", "/v1/auth/tokens", body=auth))[0] == 401
