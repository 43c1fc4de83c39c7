"""Deleting a project while roles are granted on it: no grant outlives its project, and a
later project of the same name inherits none."""

from __future__ import annotations

import threading

from tests.security.daemons import RunningHub

ROUNDS = 15
GRANTERS = 3


def race(hub: RunningHub, users: list[str]) -> dict[str, int]:
    """Grant each user a role on project ``race`` while deleting it; every call's status."""
    start = threading.Barrier(len(users) + 1)
    replies: dict[str, int] = {}

    def grant(user: str) -> None:
        start.wait(timeout=30)
        body = {"user": user, "project": "race", "role": "member"}
        replies[user] = hub.call("POST", "/v1/role_assignments", body).status

    def delete() -> None:
        start.wait(timeout=30)
        replies["delete"] = hub.call("DELETE", "/v1/projects/race").status

    threads = [threading.Thread(target=grant, args=(u,)) for u in users]
    threads.append(threading.Thread(target=delete))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a call hung"
    return replies


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
