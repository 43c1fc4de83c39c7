"""Deleting a project while roles are granted on it: no grant outlives its project, and a
later project of the same name inherits none."""

from __future__ import annotations

from tests.security.daemons import RunningHub, grants_racing_a_delete

ROUNDS = 15
GRANTERS = 3


def race(hub: RunningHub, users: list[str]) -> dict[str, int]:
    """Grant each user a role on project ``race`` while deleting it; every call's status."""
    grants = {u: {"user": u, "project": "race", "role": "member"} for u in users}
    return grants_racing_a_delete(hub, grants, "/v1/projects/race")


def test_no_grant_outlives_its_project(hub: RunningHub) -> None:
    for round_ in range(ROUNDS):
        hub.ok("POST", "/v1/projects", {"name": "race"})
        users = [f"race-{round_}-{n}" for n in range(GRANTERS)]
        for user in users:
            hub.ok("POST", "/v1/users", {"name": user, "password": f"{user}-password"})
        replies = race(hub, users)
        assert replies["delete"] == 204, replies
        for user in users:
            assert replies[user] in (201, 404), replies
            left = hub.ok("GET", f"/v1/role_assignments?user={user}")["items"]
            assert left == [], f"round {round_}: orphan grant {left}"

        hub.ok("POST", "/v1/projects", {"name": "race"})  # same name, a new project
        members = hub.ok("GET", "/v1/role_assignments?project=race")["items"]
        assert members == [], f"round {round_}: the new project inherited {members}"
        for user in users:
            login = {"user": user, "password": f"{user}-password", "project": "race"}
            assert hub.call("POST", "/v1/auth/tokens", login, token="").status == 401
            hub.ok("DELETE", f"/v1/users/{user}")
        hub.ok("DELETE", "/v1/projects/race")
