"""Deleting a user while roles are granted to it: no grant outlives its user, and a later user
of the same name inherits none (grants record the user's id; a grant is written only together
with a compare-and-set on its user, and a user is deleted in one commit with its grants).

The deterministic interleavings of one grant and one delete, both orders on every store
backend, are ``tests/hub/store/test_user_grants.py``; here the running hub, racing for real,
and a data dir in which an earlier hub left a grant behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from atoll.hub.store.sqlite import SQLiteStore
from atoll.timestamps import iso
from tests.security.daemons import RunningHub, grants_racing_a_delete

ROUNDS = 15
GRANTS = 3  # projects bob is granted a role on while he is deleted


def new_bob(hub: RunningHub, password: str) -> str:
    """Create user bob (again) and log him in without a project: his unscoped token."""
    hub.ok("POST", "/v1/users", {"name": "bob", "password": password})
    return hub.login("bob", password)


def sees_nothing(hub: RunningHub, password: str, token: str, projects: list[str]) -> None:
    """Bob (the new one) holds no role: none listed, no token on any project or the system,
    no project listed to him, nothing of a project reached with his token."""
    assert hub.ok("GET", "/v1/role_assignments?user=bob")["items"] == []
    assert hub.ok("GET", "/v1/projects", token=token)["items"] == []
    for project in projects:
        login = {"user": "bob", "password": password, "project": project}
        assert hub.call("POST", "/v1/auth/tokens", login, token="").status == 401, project
        assert hub.call("GET", f"/v1/projects/{project}", token=token).status in (403, 404)
    system = {"user": "bob", "password": password}
    assert hub.ok("POST", "/v1/auth/tokens", system, token="")["roles"] == []
    assert hub.call("GET", "/v1/users", token=token).status == 403


def test_a_user_made_again_under_a_deleted_ones_name_holds_nothing(hub: RunningHub) -> None:
    hub.ok("POST", "/v1/projects", {"name": "ub"})
    old = hub.tenant("ub", "bob", "admin")
    image = hub.ok("POST", "/v1/images", {"name": "ub-img", "disk_format": "raw"}, token=old)
    assert hub.call("DELETE", "/v1/users/bob").status == 204
    assert hub.call("GET", "/v1/images", token=old).status == 401  # revoked

    token = new_bob(hub, "bob-the-second")
    sees_nothing(hub, "bob-the-second", token, ["ub"])
    assert hub.call("GET", f"/v1/images/{image['id']}", token=token).status in (403, 404)
    hub.ok("DELETE", "/v1/users/bob")
    hub.ok("DELETE", "/v1/projects/ub")


def race(hub: RunningHub, projects: list[str]) -> dict[str, int]:
    """Grant bob a role on each project while deleting him; every call's status."""
    grants = {p: {"user": "bob", "project": p, "role": "member"} for p in projects}
    return grants_racing_a_delete(hub, grants, "/v1/users/bob")


def test_no_grant_outlives_its_user(hub: RunningHub) -> None:
    projects = [f"ur-{n}" for n in range(GRANTS)]
    for project in projects:
        hub.ok("POST", "/v1/projects", {"name": project})
    for round_ in range(ROUNDS):
        hub.ok("POST", "/v1/users", {"name": "bob", "password": "bob-the-first"})
        replies = race(hub, projects)
        assert replies["delete"] == 204, replies
        for project in projects:
            assert replies[project] in (201, 404), replies
        left = hub.ok("GET", "/v1/role_assignments?user=bob")["items"]
        assert left == [], f"round {round_}: orphan grants {left}"

        token = new_bob(hub, "bob-the-second")  # same name, a new user
        sees_nothing(hub, "bob-the-second", token, projects)
        hub.ok("DELETE", "/v1/users/bob")
    for project in projects:
        hub.ok("DELETE", f"/v1/projects/{project}")


def leave_grants_behind(project_id: str, earlier: str) -> Callable[[Path], None]:
    """What a hub before grants named users by id left after the race: grants of a deleted
    bob (on a project, and on the system) that a later bob, created since, inherited; and a
    grant of a user deleted for good."""

    def between(data_dir: Path) -> None:
        async def write() -> None:
            store = SQLiteStore(data_dir / "hub.db")
            for user, project, role in (("bob", "lp", "admin"), ("bob", None, "admin"),
                                        ("gone", "lp", "member")):  # fmt: skip
                scope = "system:all" if project is None else f"project:{project}"
                key = f"{user}:{scope}:{role}"
                await store.put("role_assignment", key, {
                    "id": key, "user": user, "project": project,
                    "project_id": project_id if project else None, "system": project is None,
                    "role": role, "created_at": earlier,
                })  # fmt: skip
            await store.close()

        asyncio.run(write())

    return between


def test_a_grant_an_earlier_hub_left_behind_is_removed_at_start(tmp_path: Path) -> None:
    hub = RunningHub.start(tmp_path)
    try:
        project_id = hub.ok("POST", "/v1/projects", {"name": "lp"})["id"]
        hub.ok("POST", "/v1/users", {"name": "bob", "password": "bob-the-second"})
        earlier = iso(time.time() - 3600)  # before this bob was created
        hub.restart(between=leave_grants_behind(project_id, earlier))

        token = hub.login("bob", "bob-the-second")
        sees_nothing(hub, "bob-the-second", token, ["lp"])
        assert hub.ok("GET", "/v1/role_assignments?project=lp")["items"] == []
        log = hub.log
        for key in ("bob:project:lp:admin", "bob:system:all:admin", "gone:project:lp:member"):
            assert f"role assignment {key} removed" in log, log[-3000:]
    finally:
        hub.stop()
