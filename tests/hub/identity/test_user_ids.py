"""Users by immutable id: grants and tokens carry the user's id, roles are looked up by it,
tokens from before the ``uid`` claim are bound to the live user of their name (or refused),
and a store written by an earlier hub gets the ids at start, its leftovers removed."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.identity import assignments
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND
from atoll.hub.migrations import migrate
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.query import list_all
from atoll.timestamps import iso
from atoll.tokens import Claims, TokenSigner, TokenVerifier
from tests.hub.hubtest import Api


async def carl_on_a(api: Api) -> tuple[str, str, str]:
    """User carl, a member of project a: his token, his id, the project's id."""
    admin = await api.admin()
    project = await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    token = await api.user_with_role("carl", "a", "member")
    carl = await api.ok("GET", "/v1/users/carl", admin)
    return token, carl["id"], project["id"]


async def test_grants_and_tokens_carry_the_users_id(
    api: Api, signing_key: Ed25519PrivateKey
) -> None:
    token, carl_id, _ = await carl_on_a(api)
    claims = TokenVerifier([signing_key.public_key()]).verify(token, api.clock())
    assert claims.user_id == carl_id
    grants = (await api.ok("GET", "/v1/role_assignments?user=carl", await api.admin()))["items"]
    assert [(g["user"], g["user_id"], g["role"]) for g in grants] == [("carl", carl_id, "member")]


async def test_a_user_goes_with_what_it_holds_and_a_grant_moves_its_etag(api: Api) -> None:
    token, _, _ = await carl_on_a(api)
    await api.ok("POST", "/v1/application_credentials", token, {"name": "ci"})
    admin = await api.admin()
    etag = (await api.call("GET", "/v1/users/carl", admin))[2]["ETag"]
    grant = {"user": "carl", "project": "a", "role": "reader"}
    await api.ok("POST", "/v1/role_assignments", admin, grant)
    status, body, _ = await api.call("DELETE", "/v1/users/carl", admin, headers={"If-Match": etag})
    assert status == 409 and "read it again" in body["error"]["message"], body
    etag = (await api.call("GET", "/v1/users/carl", admin))[2]["ETag"]
    status, _, _ = await api.call("DELETE", "/v1/users/carl", admin, headers={"If-Match": etag})
    assert status == 204
    assert await list_all(api.store, APP_CREDENTIAL_KIND, {}) == []
    left = await list_all(api.store, assignments.KIND, {})
    assert [r.key for r in left] == ["admin:system:all:admin"]


def older_token(signing_key: Ed25519PrivateKey, claims: Claims) -> str:
    """A token as a hub signed it before tokens carried the user's id (no ``uid``)."""
    return TokenSigner(signing_key).sign(claims)


async def test_a_token_without_a_user_id_is_its_live_users_until_another_takes_the_name(
    api: Api, signing_key: Ed25519PrivateKey
) -> None:
    _, carl_id, project_id = await carl_on_a(api)
    now = api.clock()
    old = older_token(signing_key, Claims("t-old", "carl", "a", False, ("member",), now,
                                          now + 600, project_id=project_id))  # fmt: skip
    assert [p["name"] for p in (await api.ok("GET", "/v1/projects", old))["items"]] == ["a"]
    rescoped = await api.ok("POST", "/v1/auth/tokens", "", {"token": old, "project": "a"})
    verifier = TokenVerifier([signing_key.public_key()])
    assert verifier.verify(rescoped["token"], now).user_id == carl_id

    # carl is made again (as if deleted, the token escaping its revocation) after the token
    record = await api.store.get("user", "carl")
    later = {**record.value, "id": "0" * 32, "created_at": iso(now + 60)}
    await api.store.put("user", "carl", later)
    for status, body, _ in (
        await api.call("GET", "/v1/projects", old),
        await api.call("POST", "/v1/auth/tokens", body={"token": old, "project": "a"}),
    ):
        assert status == 401 and "log in again" in body["error"]["message"], body


async def test_a_token_of_an_earlier_user_of_the_name_gets_nothing_of_the_new_one(
    api: Api, signing_key: Ed25519PrivateKey
) -> None:
    """A token that carries an id other than the live user's is not exchanged for his."""
    await carl_on_a(api)
    now = api.clock()
    earlier = older_token(signing_key, Claims("t-e", "carl", None, False, (), now, now + 600,
                                              user_id="0" * 32))  # fmt: skip
    status, body, _ = await api.call("POST", "/v1/auth/tokens", body={"token": earlier,
                                                                      "project": "a"})  # fmt: skip
    assert status == 401 and "log in again" in body["error"]["message"], body
    assert (await api.ok("GET", "/v1/projects", earlier))["items"] == []


T0 = 1_800_000_000.0
ANN, BOB = "a" * 32, "b" * 32
PROJECT = "c" * 32


async def test_an_earlier_hubs_store_gets_user_ids_and_loses_its_leftovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    await store.put("project", "p", {"id": PROJECT, "name": "p", "created_at": iso(T0)})
    for name, user_id in (("ann", ANN), ("bob", BOB)):
        await store.put("user", name, {"id": user_id, "name": name, "created_at": iso(T0)})
    legacy = [  # key, user, project, written: as a hub before user ids left them
        ("ann:project:p:member", "ann", "p", T0),  # ann's own, made in her second
        ("ann:system:all:reader", "ann", None, T0 + 5),
        ("bob:project:p:admin", "bob", "p", T0 - 60),  # a deleted bob's, before today's bob
        ("bob:system:all:admin", "bob", None, T0 - 60),
        ("gone:project:p:member", "gone", "p", T0),  # a user deleted for good
    ]
    for key, user, project, written in legacy:
        await store.put(assignments.KIND, key, {
            "id": key, "user": user, "project": project, "system": project is None,
            "role": key.rsplit(":", 1)[1], "created_at": iso(written),
        })  # fmt: skip
    for cred_id, user, written in (("1" * 32, "ann", T0 + 1), ("2" * 32, "bob", T0 - 1)):
        await store.put(APP_CREDENTIAL_KIND, cred_id, {
            "id": cred_id, "user": user, "project": "p", "project_id": PROJECT,
            "created_at": iso(written),
        })  # fmt: skip

    with caplog.at_level(logging.WARNING, logger="atoll.hub.migrations"):
        await migrate(store)
    grants = {r.key: r.value for r in await list_all(store, assignments.KIND, {})}
    assert {k: (v["user_id"], v["project_id"]) for k, v in grants.items()} == {
        "ann:project:p:member": (ANN, PROJECT),
        "ann:system:all:reader": (ANN, None),
    }
    creds = {r.key: r.value["user_id"] for r in await list_all(store, APP_CREDENTIAL_KIND, {})}
    assert creds == {"1" * 32: ANN}
    for removed in ("role assignment bob:project:p:admin", "role assignment bob:system:all:admin",
                    "role assignment gone:project:p:member",
                    f"application credential {'2' * 32}"):  # fmt: skip
        assert f"{removed} removed" in caplog.text, caplog.text
    assert await assignments.roles_on(store, BOB, PROJECT) == ()
    assert await assignments.roles_on(store, BOB, None) == ()
    assert await assignments.roles_on(store, ANN, PROJECT) == ("member",)

    revision = await store.revision()
    await migrate(store)  # the next start: nothing left to do
    assert await store.revision() == revision
