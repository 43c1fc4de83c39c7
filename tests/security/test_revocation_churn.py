"""One user cannot grow the revocation list every hub process and every site holds.

Before: a token revoked one by one (``DELETE /v1/auth/tokens/current``, Keystone's ``DELETE
/identity/v3/auth/tokens``, the dashboard's sign-out) was one record, kept until no token
it could stop was left (``token_ttl``, an hour). A project member exchanged its token for a
new one (no password hash, no throttle) and revoked that, two cheap requests a record,
without end: every hub process keeps the whole list in memory, and every site fetches all
of it every ``revocation_poll_interval`` (10 s). Now the hub keeps at most ``[hub]
token_revocations_per_user`` of one user's tokens revoked by id; one more revokes every
token the user was issued until then, as one record, in their place (the user logs in
again), so one user holds at most that many records and one more.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.daemons import RunningHub, running_hub

LIMIT = 5


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    config = f"[hub]\ntoken_revocations_per_user = {LIMIT}\n"
    with running_hub(Path(tmp_path_factory.mktemp("sec-revocations")), config=config) as running:
        yield running


def revocations(hub: RunningHub) -> list[dict[str, object]]:
    return list(hub.ok("GET", "/v1/revocations?limit=1000")["items"])


def test_one_user_revoking_token_after_token_holds_a_bounded_list(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    project, user, password = f"rev-{tag}", f"rev-mallory-{tag}", secrets.token_urlsafe(12)
    hub.ok("POST", "/v1/projects", {"name": project})
    hub.ok("POST", "/v1/users", {"name": user, "password": password})
    hub.ok("POST", "/v1/role_assignments", {"user": user, "project": project, "role": "member"})
    token = hub.login(user, password, project)
    before = len(revocations(hub))
    for _ in range(4 * LIMIT):
        fresh = hub.ok("POST", "/v1/auth/tokens", {"token": token, "project": project},
                       token="")["token"]  # fmt: skip
        hub.ok("DELETE", "/v1/auth/tokens/current", token=fresh)
        if hub.call("GET", "/v1/auth/tokens/current", token=token).status == 401:
            token = hub.login(user, password, project)  # signed out everywhere: log in again
    held = len(revocations(hub)) - before
    assert held <= LIMIT + 1, f"{held} revocation records for one user"
    assert hub.call("GET", "/v1/auth/tokens/current", token=fresh).status == 401
    other = hub.tenant(f"rev-o-{tag}", f"rev-olive-{tag}")  # another user's token still works
    assert hub.call("GET", "/v1/auth/tokens/current", token=other).status == 200
