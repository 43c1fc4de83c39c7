"""A project admin cannot sign anyone out of the rest of the fleet.

Before: removing a role assignment (``DELETE /v1/role_assignments/{id}``) revoked every
token of its user. A project admin may grant a role on their own project to any user by
name, and remove it: two requests, and the fleet's system admin (or another project's
members) had every token refused (401) on the hub and at every site, as often as the
project admin liked. Now removing a role on a project revokes that user's tokens on that
project only (``user_project``: they are the ones that carry the role); a system role's
removal, a system admin's act, still revokes all of them.
"""

from __future__ import annotations

import secrets

from tests.security.daemons import HUB_ADMIN_PASSWORD, RunningHub


def test_project_admin_grant_and_removal_signs_no_one_out_elsewhere(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    mallory = hub.tenant(f"rm-a-{tag}", f"rm-mallory-{tag}", "admin")
    bob_user = f"rm-bob-{tag}"
    bob = hub.tenant(f"rm-b-{tag}", bob_user)
    system = hub.login("admin", HUB_ADMIN_PASSWORD)
    for victim in ("admin", bob_user):
        grant = {"user": victim, "project": f"rm-a-{tag}", "role": "reader"}
        granted = hub.ok("POST", "/v1/role_assignments", grant, token=mallory)
        hub.ok("DELETE", f"/v1/role_assignments/{granted['id']}", token=mallory)
    assert hub.call("GET", "/v1/users", token=system).status == 200
    assert hub.call("GET", "/vnfpkgm/v1/vnf_packages", token=bob).status == 200


def test_removing_a_project_role_still_ends_the_tokens_that_carry_it(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    project, other, user = f"rm-c-{tag}", f"rm-d-{tag}", f"rm-carol-{tag}"
    password = secrets.token_urlsafe(12)
    hub.ok("POST", "/v1/users", {"name": user, "password": password})
    for name in (project, other):
        hub.ok("POST", "/v1/projects", {"name": name})
    hub.ok("POST", "/v1/role_assignments", {"user": user, "project": project, "role": "member"})
    hub.ok("POST", "/v1/role_assignments", {"user": user, "project": other, "role": "member"})
    on_project = hub.login(user, password, project)
    elsewhere = hub.login(user, password, other)
    hub.ok("DELETE", f"/v1/role_assignments/{user}:project:{project}:member")
    reply = hub.call("GET", "/vnfpkgm/v1/vnf_packages", token=on_project)
    assert reply.status == 401, reply
    assert hub.call("GET", "/vnfpkgm/v1/vnf_packages", token=elsewhere).status == 200
    login = {"user": user, "password": password, "project": project}
    assert hub.call("POST", "/v1/auth/tokens", login, token="").status == 401
