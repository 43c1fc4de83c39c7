"""The Keystone v3 facade (``/identity/v3``) as an attacker calls it.

- Enumeration: a wrong password, a user that does not exist (by name, by id, in another
  domain) and a project that does not exist all get the same 401 body.
- Scope escalation: a project member cannot get a token for another project or for the
  system scope, neither by password, nor by rescoping a token, nor through an application
  credential; nor read or revoke another user's token.
- Guessing: the facade counts failures with the hub's own login throttle (429, Keystone's
  error shape), and never locks the account out for another address.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.security.daemons import Reply, RunningHub

TOKENS = "/identity/v3/auth/tokens"


def password_auth(user: dict[str, Any], password: str, scope: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {
        "identity": {"methods": ["password"], "password": {"user": {**user, "password": password}}}
    }
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


def by_name(name: str, domain: str = "Default") -> dict[str, Any]:
    return {"name": name, "domain": {"name": domain}}


def project(name: str) -> dict[str, Any]:
    return {"project": {"name": name, "domain": {"id": "default"}}}


def login(hub: RunningHub, body: dict[str, Any], source: str) -> Reply:
    return hub.call("POST", TOKENS, body, token="", source=source)


def refusal(reply: Reply) -> dict[str, Any]:
    """The 401 body, which must be Keystone's and say nothing about why."""
    assert reply.status == 401, reply
    assert reply.body == {
        "error": {
            "code": 401,
            "title": "Unauthorized",
            "message": "The request you have made requires authentication.",
        }
    }
    assert "X-Subject-Token" not in reply.headers
    return dict(reply.body)


@pytest.fixture(scope="module")
def people(hub: RunningHub) -> dict[str, Any]:
    """Two projects with a member each; ``mallory`` in ``ks-a`` is the attacker."""
    out: dict[str, Any] = {}
    for name, proj in (("mallory", "ks-a"), ("victim", "ks-b")):
        hub.ok("POST", "/v1/projects", {"name": proj})
        password = f"{name}-" + secrets.token_hex(8)
        user = hub.ok("POST", "/v1/users", {"name": name, "password": password})
        hub.ok("POST", "/v1/role_assignments", {"user": name, "project": proj, "role": "admin"})
        out[name] = {"password": password, "id": user["id"], "project": proj}
    return out


def test_wrong_password_and_unknown_users_look_alike(
    hub: RunningHub, people: dict[str, Any]
) -> None:
    source = "127.0.0.61"
    wrong = login(hub, password_auth(by_name("victim"), "guess-1"), source)
    same = [
        refusal(login(hub, password_auth(by_name("nobody-here"), "guess-1"), source)),
        refusal(login(hub, password_auth({"id": "0" * 32}, "guess-1"), source)),
        refusal(login(hub, password_auth(by_name("victim", "other"), "guess-1"), source)),
        refusal(
            login(hub, password_auth(by_name("victim"), "guess-1", project("no-such")), source)
        ),
    ]
    assert all(body == refusal(wrong) for body in same)


def test_a_member_cannot_scope_to_another_project_or_the_system(
    hub: RunningHub, people: dict[str, Any]
) -> None:
    source, me = "127.0.0.62", people["mallory"]
    user = by_name("mallory")
    for scope in (project("ks-b"), {"project": {"id": "0" * 32}}, {"system": {"all": True}}):
        refusal(login(hub, password_auth(user, me["password"], scope), source))
    assert hub.call("GET", "/v1/auth/tokens/current", token="").status == 401

    own = login(hub, password_auth(user, me["password"], project("ks-a")), source)
    assert own.status == 201 and own.body["token"]["project"]["name"] == "ks-a"
    token = own.headers["X-Subject-Token"]
    for scope in (project("ks-b"), {"system": {"all": True}}):
        rescope = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}
        refusal(login(hub, {"auth": {**rescope["auth"], "scope": scope}}, source))

    credential = hub.ok("POST", "/v1/application_credentials", {"name": "ci"}, token=token)
    cred = {"id": credential["id"], "secret": credential["secret"]}
    identity = {"methods": ["application_credential"], "application_credential": cred}
    for scope in (project("ks-b"), {"system": {"all": True}}):
        refusal(login(hub, {"auth": {"identity": identity, "scope": scope}}, source))
    by_cred = login(hub, {"auth": {"identity": identity}}, source)
    assert by_cred.status == 201
    assert by_cred.body["token"]["project"]["name"] == "ks-a"


def test_tokens_of_others_cannot_be_read_or_revoked(
    hub: RunningHub, people: dict[str, Any]
) -> None:
    source = "127.0.0.63"
    tokens = {}
    for name in ("mallory", "victim"):
        who = people[name]
        body = password_auth(by_name(name), who["password"], project(who["project"]))
        tokens[name] = login(hub, body, source).headers["X-Subject-Token"]
    mine, theirs = tokens["mallory"], tokens["victim"]
    as_mallory = {"X-Auth-Token": mine, "X-Subject-Token": theirs}
    for method in ("GET", "DELETE"):
        reply = hub.call(method, TOKENS, token="", headers=as_mallory)
        assert reply.status == 403 and reply.body["error"]["code"] == 403, reply
    assert hub.call("GET", "/v1/auth/tokens/current", token=theirs).status == 200

    anonymous = hub.call("GET", TOKENS, token="", headers={"X-Subject-Token": theirs})
    refusal(anonymous)
    forged = {"X-Auth-Token": mine, "X-Subject-Token": theirs[:-4] + "AAAA"}
    assert hub.call("GET", TOKENS, token="", headers=forged).status == 404

    own = {"X-Auth-Token": mine, "X-Subject-Token": mine}
    assert hub.call("HEAD", TOKENS, token="", headers=own).status == 200
    assert hub.call("DELETE", TOKENS, token="", headers=own).status == 204
    assert hub.call("GET", "/v1/auth/tokens/current", token=mine).status == 401


def test_guessing_is_throttled_without_locking_the_account_out(
    hub: RunningHub, people: dict[str, Any]
) -> None:
    victim = people["victim"]
    statuses = [
        login(hub, password_auth(by_name("victim"), f"guess-{i}"), "127.0.0.64").status
        for i in range(6)  # the hub allows 5 failures per address and user
    ]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    throttled = login(hub, password_auth(by_name("victim"), victim["password"]), "127.0.0.64")
    assert throttled.status == 429 and throttled.body["error"]["title"] == "Too Many Requests"
    assert int(throttled.headers["Retry-After"]) >= 1
    elsewhere = login(hub, password_auth(by_name("victim"), victim["password"]), "127.0.0.65")
    assert elsewhere.status == 201, elsewhere
    assert elsewhere.body["token"]["project"]["name"] == victim["project"]  # its one project
