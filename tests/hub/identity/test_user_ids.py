"""Users by immutable id: a store written by an earlier hub gets the ids at start, its
leftovers removed."""

from __future__ import annotations

import logging

import pytest

from atoll.hub.identity import assignments
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND
from atoll.hub.migrations import migrate
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.query import list_all
from atoll.timestamps import iso

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

    revision = await store.revision()
    await migrate(store)  # the next start: nothing left to do
    assert await store.revision() == revision
