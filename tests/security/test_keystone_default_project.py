"""A project admin cannot become the fleet admin's default project.

Before: the Keystone facade gave an unscoped password login (``openstack`` with no project
and no system scope) a token for the user's project when the user held roles on exactly
one. The fleet's system admin holds none; a project admin may grant any user a role on
their own project, so one grant (``POST /v1/role_assignments`` with the admin's name) made
that project the admin's default: the admin's unscoped ``openstack`` session ran in the
attacker's project, where what it made (VNF packages, instances, subscriptions) was the
attacker's to read and delete. Now a user with a system role gets no default project.
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.security.daemons import HUB_ADMIN_PASSWORD, RunningHub

TOKENS = "/identity/v3/auth/tokens"


def unscoped_login(hub: RunningHub, user: str, password: str) -> dict[str, Any]:
    identity = {"user": {"name": user, "domain": {"id": "default"}, "password": password}}
    body = {"auth": {"identity": {"methods": ["password"], "password": identity}}}
    reply = hub.call("POST", TOKENS, body, token="")
    assert reply.status == 201, reply
    return dict(reply.body["token"])


def test_a_project_admins_grant_does_not_scope_the_fleet_admins_login(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    project = f"kd-{tag}"
    mallory = hub.tenant(project, f"kd-mallory-{tag}", "admin")
    grant = {"user": "admin", "project": project, "role": "member"}
    granted = hub.ok("POST", "/v1/role_assignments", grant, token=mallory)
    try:
        token = unscoped_login(hub, "admin", HUB_ADMIN_PASSWORD)
        assert "project" not in token, token
    finally:
        hub.ok("DELETE", f"/v1/role_assignments/{granted['id']}", token=mallory)
    # a user whose only roles are on one project still gets it by default
    user, password = f"kd-olive-{tag}", secrets.token_urlsafe(12)
    hub.ok("POST", "/v1/users", {"name": user, "password": password})
    hub.ok("POST", "/v1/role_assignments", {"user": user, "project": project, "role": "reader"})
    assert unscoped_login(hub, user, password)["project"]["name"] == project
