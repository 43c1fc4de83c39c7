"""Every route x every kind of caller x own/other project: the policy, written out by hand.

Callers: SA system admin, SR system reader, PA/PM/PR admin/member/reader of project ``a``,
UN a member of ``a`` holding an unscoped token. "own" targets project ``a``; "other"
targets project ``b``. Denied is 403 (the policy table) or 404 (isolation: another
project's things look absent). The expectations are spelled out here rather than derived
from the policy table, so a change to the table that widens access fails this test.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll import ids
from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.catalog.images import new_image
from atoll.hub.catalog.vnf_packages import new_package
from atoll.hub.identity.policy import POLICY
from atoll.hub.lcm import records, subscriptions
from atoll.hub.store.base import ListQuery
from atoll.hub.store.memory import MemoryStore
from atoll.nfv.lcm.instance import VnfInstance, VnfLcmOpOcc
from atoll.passwords import Passwords
from tests.hub.api.image_policy_cases import image_cases
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api, FakeClock

CALLERS = ("SA", "SR", "PA", "PM", "PR", "UN")
_counter = itertools.count()

Prepare = Callable[[Api, str, str], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    route: str
    method: str
    path: Callable[[str, str], str]  # (target project, unique suffix) -> path
    own: dict[str, int]  # caller -> status when targeting project a
    other: dict[str, int] | None = None  # ... project b (None: not project-specific)
    body: Callable[[str, str], Any] | None = None
    prepare: Prepare | None = None  # make a throwaway target first (as the system admin)
    notes: str = field(default="")
    headers: dict[str, str] | None = None  # e.g. the SOL013 Version header


def only(default: int = 403, **codes: int) -> dict[str, int]:
    return {c: codes.get(c, default) for c in CALLERS}


async def world(api: Api) -> dict[str, str]:
    admin = await api.admin()
    for project in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": project})
    tokens = {"SA": admin}
    tokens["PA"] = await api.user_with_role("a-admin", "a", "admin")
    tokens["PM"] = await api.user_with_role("a-member", "a", "member")
    tokens["PR"] = await api.user_with_role("a-reader", "a", "reader")
    await api.user_with_role("b-member", "b", "member")
    await api.user_with_role("a-unscoped", "a", "member")
    tokens["UN"] = await api.token("a-unscoped", "a-unscoped-password")
    await api.ok(
        "POST", "/v1/users", admin, {"name": "sysreader", "password": "sysreader-password"}
    )
    await api.ok(
        "POST",
        "/v1/role_assignments",
        admin,
        {"user": "sysreader", "system": True, "role": "reader"},
    )
    tokens["SR"] = await api.token("sysreader", "sysreader-password")
    flavor = {"vcpus": 2, "ram_mb": 1024, "disk_gb": 10}
    await api.ok("POST", "/v1/flavors", admin, {"name": "pub", **flavor})
    for project in ("a", "b"):
        await api.ok(
            "POST",
            "/v1/flavors",
            admin,
            {"name": f"f-{project}", "public": False, "projects": [project], **flavor},
        )
    await api.ok("POST", "/v1/sites", admin, {"name": "s1"})
    return tokens


async def make_project(api: Api, target: str, n: str) -> None:
    await api.ok("POST", "/v1/projects", await api.admin(), {"name": f"tmp{n}"})


async def make_user(api: Api, target: str, n: str) -> None:
    await api.ok("POST", "/v1/users", await api.admin(), {"name": f"u{n}", "password": "12345678"})


async def make_assignment(api: Api, target: str, n: str) -> None:
    await make_user(api, target, n)
    body = {"user": f"u{n}", "project": target, "role": "reader"}
    await api.ok("POST", "/v1/role_assignments", await api.admin(), body)


async def make_owned_flavor(api: Api, target: str, n: str) -> None:
    # created by the target project's own member, so it is that project's (owner) flavor
    token = await api.token(f"{target}-member", f"{target}-member-password", target)
    await api.ok(
        "POST", "/v1/flavors", token, {"name": f"f{n}", "vcpus": 1, "ram_mb": 64, "disk_gb": 1}
    )


async def make_site(api: Api, target: str, n: str) -> None:
    await api.ok("POST", "/v1/sites", await api.admin(), {"name": f"s{n}"})


async def make_join_token(api: Api, target: str, n: str) -> None:
    reply = await api.ok("POST", "/v1/join_tokens", await api.admin(), {"site": f"j{n}"})
    api.tokens[("join", n)] = reply["id"]


def package_path(target: str, n: str) -> str:
    return f"/vnfpkgm/v1/vnf_packages/00000000-0000-4000-8000-{int(n):012d}"


async def make_package(api: Api, target: str, n: str, state: str = "CREATED") -> None:
    package_id = package_path(target, n).rsplit("/", 1)[1]
    project_id = (await api.store.get("project", target)).value["id"]
    value = new_package(package_id, target, project_id, {}, "2030-01-01T00:00:00Z")
    value["onboardingState"] = state
    await api.store.put("vnf_package", package_id, value, expect_revision=0)


async def make_onboarded_package(api: Api, target: str, n: str) -> None:
    await make_package(api, target, n, "ONBOARDED")


ALL_OK = only(200, UN=403)
SYSTEM_READ = only(SA=200, SR=200)
PROJECT_READ = only(200, UN=403)

CASES = [
    Case("auth.tokens.show_current", "GET", lambda t, n: "/v1/auth/tokens/current", only(200)),
    Case(
        "auth.password.change",
        "POST",
        lambda t, n: "/v1/auth/password",
        only(403),
        body=lambda t, n: {"current_password": "not it", "new_password": "whatever-new"},
        notes="anyone may try; a wrong current password is refused",
    ),
    Case("revocations.list", "GET", lambda t, n: "/v1/revocations", SYSTEM_READ),
    Case(
        "revocations.create",
        "POST",
        lambda t, n: "/v1/revocations",
        only(SA=201),
        body=lambda t, n: {"subject": "token", "value": f"t{n}"},
    ),
    Case("projects.list", "GET", lambda t, n: "/v1/projects", only(200)),
    Case(
        "projects.create",
        "POST",
        lambda t, n: "/v1/projects",
        only(SA=201),
        body=lambda t, n: {"name": f"new{n}"},
    ),
    Case(
        "projects.show",
        "GET",
        lambda t, n: f"/v1/projects/{t}",
        only(200, UN=403),
        other=only(404, SA=200, SR=200, UN=403),
    ),
    Case(
        "projects.update",
        "PATCH",
        lambda t, n: f"/v1/projects/{t}",
        only(SA=200, PA=200),
        other=only(SA=200, PA=404),
        body=lambda t, n: {"description": n},
    ),
    Case(
        "projects.delete",
        "DELETE",
        lambda t, n: f"/v1/projects/tmp{n}",
        only(SA=204),
        prepare=make_project,
    ),
    Case("users.list", "GET", lambda t, n: "/v1/users", SYSTEM_READ),
    Case(
        "users.create",
        "POST",
        lambda t, n: "/v1/users",
        only(SA=201),
        body=lambda t, n: {"name": f"nu{n}", "password": "12345678"},
    ),
    Case(
        "users.show",
        "GET",
        lambda t, n: f"/v1/users/{t}-member",
        only(SA=200, SR=200, PA=404, PM=200, PR=404),
        other=only(SA=200, SR=200, PA=404, PM=404, PR=404),
        notes="project callers see only themselves (a-member is PM)",
    ),
    Case(
        "users.update",
        "PATCH",
        lambda t, n: f"/v1/users/u{n}",
        only(SA=200),
        body=lambda t, n: {"description": "x"},
        prepare=make_user,
    ),
    Case("users.delete", "DELETE", lambda t, n: f"/v1/users/u{n}", only(SA=204), prepare=make_user),
    Case(
        "role_assignments.list",
        "GET",
        lambda t, n: f"/v1/role_assignments?project={t}",
        PROJECT_READ,
        other=only(404, SA=200, SR=200, UN=403),
    ),
    Case(
        "role_assignments.create",
        "POST",
        lambda t, n: "/v1/role_assignments",
        only(SA=201, PA=201),
        other=only(SA=201),
        body=lambda t, n: {"user": f"u{n}", "project": t, "role": "reader"},
        prepare=make_user,
    ),
    Case(
        "role_assignments.delete",
        "DELETE",
        lambda t, n: f"/v1/role_assignments/u{n}:project:{t}:reader",
        only(SA=204, PA=204),
        other=only(SA=204, PA=404),
        prepare=make_assignment,
    ),
    Case(
        "application_credentials.list",
        "GET",
        lambda t, n: "/v1/application_credentials",
        only(200, SA=403, SR=403, UN=403),
    ),
    Case(
        "application_credentials.create",
        "POST",
        lambda t, n: "/v1/application_credentials",
        only(201, SA=403, SR=403, UN=403),
        body=lambda t, n: {"name": f"c{n}"},
    ),
    Case(
        "application_credentials.show",
        "GET",
        lambda t, n: "/v1/application_credentials/" + "0" * 32,
        only(404, SA=403, SR=403, UN=403),
        notes="nobody sees a credential that is not their own",
    ),
    Case(
        "application_credentials.delete",
        "DELETE",
        lambda t, n: "/v1/application_credentials/" + "0" * 32,
        only(404, SA=403, SR=403, UN=403),
    ),
    Case("flavors.list", "GET", lambda t, n: "/v1/flavors", ALL_OK),
    Case(
        "flavors.show",
        "GET",
        lambda t, n: f"/v1/flavors/f-{t}",
        ALL_OK,
        other=only(404, SA=200, SR=200, UN=403),
    ),
    Case(
        "flavors.create",
        "POST",
        lambda t, n: "/v1/flavors",
        only(SA=201, PA=201, PM=201),
        body=lambda t, n: {"name": f"nf{n}", "vcpus": 1, "ram_mb": 64, "disk_gb": 1},
    ),
    Case(
        "flavors.delete",
        "DELETE",
        lambda t, n: f"/v1/flavors/f{n}",
        only(SA=204, PA=204, PM=204),
        other=only(SA=204, PA=404, PM=404),
        prepare=make_owned_flavor,
    ),
    Case("sites.list", "GET", lambda t, n: "/v1/sites", ALL_OK),
    Case("sites.show", "GET", lambda t, n: "/v1/sites/s1", ALL_OK),
    Case(
        "sites.create",
        "POST",
        lambda t, n: "/v1/sites",
        only(SA=201),
        body=lambda t, n: {"name": f"ns{n}"},
    ),
    Case(
        "sites.update",
        "PATCH",
        lambda t, n: f"/v1/sites/s{n}",
        only(SA=200),
        body=lambda t, n: {"state": "maintenance"},
        prepare=make_site,
    ),
    Case("sites.delete", "DELETE", lambda t, n: f"/v1/sites/s{n}", only(SA=204), prepare=make_site),
    Case("join_tokens.list", "GET", lambda t, n: "/v1/join_tokens", only(SA=200)),
    Case(
        "join_tokens.create",
        "POST",
        lambda t, n: "/v1/join_tokens",
        only(SA=201),
        body=lambda t, n: {"site": f"nj{n}", "ttl": 600},
    ),
    Case(
        "join_tokens.delete",
        "DELETE",
        lambda t, n: "/v1/join_tokens/" + "0" * 16,
        only(SA=404),
        notes="a missing token is a 404 for the admin; everyone else is refused first",
    ),
    Case(
        "vnf_packages.show",
        "GET",
        package_path,
        PROJECT_READ,
        other=only(404, SA=200, SR=200, UN=403),
        prepare=make_package,
    ),
    Case("vnf_packages.list", "GET", lambda t, n: "/vnfpkgm/v1/vnf_packages", PROJECT_READ),
    Case(
        "vnf_packages.create",
        "POST",
        lambda t, n: "/vnfpkgm/v1/vnf_packages",
        only(PA=201, PM=201),
        body=lambda t, n: {"userDefinedData": {"n": n}},
        notes="a package belongs to a project: system scope cannot create one",
    ),
    Case(
        "vnf_packages.content",
        "GET",
        lambda t, n: package_path(t, n) + "/package_content",
        only(409, UN=403),
        other=only(404, SA=409, SR=409, UN=403),
        prepare=make_package,
        notes="a CREATED package has no content yet (409) for those who may see it",
    ),
    Case(
        "vnf_packages.vnfd",
        "GET",
        lambda t, n: package_path(t, n) + "/vnfd",
        only(409, UN=403),
        other=only(404, SA=409, SR=409, UN=403),
        prepare=make_package,
    ),
    Case(
        "vnf_packages.artifact",
        "GET",
        lambda t, n: package_path(t, n) + "/artifacts/Scripts/install.sh",
        only(409, UN=403),
        other=only(404, SA=409, SR=409, UN=403),
        prepare=make_package,
        notes="a CREATED package has no artifacts yet (409) for those who may see it",
    ),
    Case(
        "vnf_packages.upload_from_uri",
        "POST",
        lambda t, n: package_path(t, n) + "/package_content/upload_from_uri",
        only(SA=409, PA=409, PM=409),
        other=only(SA=409, PA=404, PM=404),
        body=lambda t, n: {"addressInformation": "https://vendor.example/p.zip"},
        prepare=make_onboarded_package,
        notes="an ONBOARDED package takes no more content (409) for those allowed to upload",
    ),
    Case("vnfpkgm.api_versions", "GET", lambda t, n: "/vnfpkgm/api_versions", only(200)),
    Case("vnfpkgm.v1.api_versions", "GET", lambda t, n: "/vnfpkgm/v1/api_versions", only(200)),
    Case(
        "vnf_packages.upload",
        "PUT",
        lambda t, n: package_path(t, n) + "/package_content",
        only(SA=409, PA=409, PM=409),
        other=only(SA=409, PA=404, PM=404),
        prepare=make_onboarded_package,
        notes="an ONBOARDED package takes no more content (409) for those allowed to upload",
    ),
    Case(
        "vnf_packages.update",
        "PATCH",
        lambda t, n: package_path(t, n),
        only(SA=200, PA=200, PM=200),
        other=only(SA=200, PA=404, PM=404),
        body=lambda t, n: {"operationalState": "DISABLED"},
        prepare=make_package,
    ),
    Case(
        "vnf_packages.delete",
        "DELETE",
        lambda t, n: package_path(t, n),
        only(SA=204, PA=204, PM=204),
        other=only(SA=204, PA=404, PM=404),
        prepare=make_package,
    ),
]

CASES += image_cases(Case, only)
CASES += [
    Case("health.live", "GET", lambda t, n: "/healthz", only(200)),
    # public: every caller gets the verdict (here "not ready": the test hub has no CA)
    Case("health.ready", "GET", lambda t, n: "/readyz", only(503)),
    Case("metrics.show", "GET", lambda t, n: "/metrics", SYSTEM_READ),
    # the dashboard: its page is public, its overview is what sites.list shows
    Case("ui.redirect", "GET", lambda t, n: "/ui", only(200)),
    Case("ui.page", "GET", lambda t, n: "/ui/", only(200)),
    Case("ui.static", "GET", lambda t, n: "/ui/static/app.js", only(200)),
    Case("ui.session.show", "GET", lambda t, n: "/ui/session", only(200)),
    Case("ui.fleet", "GET", lambda t, n: "/ui/fleet", ALL_OK),
]
CASES.append(
    Case(
        "sync.renew",
        "POST",
        lambda t, n: "/v1/sync/renew",
        only(),
        body=lambda t, n: {"csr": "x"},
        notes="a site's certificate only (tests/security/test_join.py): no token may renew",
    )
)

PLACED_SPECS: dict[str, Any] = {
    "networks": {},
    "volumes": {"size_gb": 1},
    "subnets": {"network": "base", "cidr": "10.0.0.0/24"},
    "servers": {"flavor": "pub", "image": "img"},
}


async def placeable(api: Api, target: str) -> None:
    """What servers and subnets at site s1 need: an image, and a network of ``target``."""
    admin = await api.admin()
    if not (await api.store.list(ListQuery("image", {"name": "img"}))).items:
        value = new_image(ids.hub_id(), {"name": "img", "disk_format": "qcow2",
                          "visibility": "public"}, None, None, "2030-01-01T00:00:00Z")  # fmt: skip
        value.update(status="active", checksum_sha256="ab" * 32, size=1)
        await api.store.put("image", value["id"], value)
    status, _, _ = await api.call("POST", "/v1/sites/s1/networks", admin,
                                  {"name": "base", "project": target, "spec": {}})  # fmt: skip
    assert status in (201, 409)


def make_placed(noun: str) -> Prepare:
    async def prepare(api: Api, target: str, n: str) -> None:
        await placeable(api, target)
        body = {"name": f"x{n}", "project": target, "spec": PLACED_SPECS[noun]}
        await api.ok("POST", f"/v1/sites/s1/{noun}", await api.admin(), body)

    return prepare


async def make_conflict(api: Api, target: str, n: str) -> None:
    project_id = (await api.store.get("project", target)).value["id"]
    site_id = (await api.store.get("site", "s1")).value["id"]
    value = {"id": f"{int(n):032x}", "site": "s1", "site_id": site_id, "kind": "network",
             "object_id": ids.hub_id(), "name": "x", "project_id": project_id, "op": "update",
             "base_hub_revision": 1, "hub_revision": None, "site_desired": None,
             "hub_desired": None, "operation_seq": 1, "state": "open", "resolution": None,
             "created_at": "2030-01-01T00:00:00Z"}  # fmt: skip
    await api.store.put("conflict", value["id"], value)


async def make_alarm(api: Api, target: str, n: str) -> None:
    project_id = (await api.store.get("project", target)).value["id"]
    value = {"id": f"{int(n):032x}", "name": f"alarm{n}", "description": "",
             "project_id": project_id, "site": None, "site_id": None, "scope": "hub",
             "type": "threshold", "rule": {"metric": "m", "threshold": 1.0}, "state": "ok",
             "state_reason": "", "state_timestamp": "2030-01-01T00:00:00Z",
             "acknowledged": False, "silenced_until": None, "severity": "low", "webhooks": [],
             "enabled": True, "created_at": "2030-01-01T00:00:00Z"}  # fmt: skip
    await api.store.put("alarm", value["id"], value)


def alarm_case(route: str, method: str, suffix: str, own: dict[str, int],
               other: dict[str, int], body: Any = None) -> Case:  # fmt: skip
    return Case(route, method, lambda t, n: f"/v1/alarms/{int(n):032x}{suffix}", own,
                other=other, prepare=make_alarm,
                body=(lambda t, n: body) if body is not None else None)  # fmt: skip


ALARM_WRITE, ALARM_WRITE_OTHER = only(SA=200, PA=200, PM=200), only(SA=200, PA=404, PM=404)
ALARM_READ_OTHER = only(404, SA=200, SR=200, UN=403)
ALARM_CASES = [
    Case("metrics.query", "GET", lambda t, n: "/v1/metrics/query?name=host_memory_total_bytes",
         ALL_OK, notes="a project sees its own servers' series only (tests/hub/api/test_alarms)"),
    Case("alarms.list", "GET", lambda t, n: "/v1/alarms", ALL_OK),
    Case("alarms.create", "POST", lambda t, n: "/v1/alarms", only(SA=201, PA=400, PM=400),
         body=lambda t, n: {"name": f"a{n}", "type": "site_state", "rule": {}},
         notes="allowed to project writers, but a site-state rule is the fleet's: 400"),
    alarm_case("alarms.show", "GET", "", ALL_OK, ALARM_READ_OTHER),
    alarm_case("alarms.history", "GET", "/history", ALL_OK, ALARM_READ_OTHER),
    alarm_case("alarms.delete", "DELETE", "", only(SA=204, PA=204, PM=204),
               only(SA=204, PA=404, PM=404)),
    alarm_case("alarms.acknowledge", "POST", "/acknowledge", ALARM_WRITE, ALARM_WRITE_OTHER, {}),
    alarm_case("alarms.silence", "POST", "/silence", ALARM_WRITE, ALARM_WRITE_OTHER,
               {"seconds": 60}),
]  # fmt: skip


def placed_cases(noun: str) -> list[Case]:
    path = f"/v1/sites/s1/{noun}"
    return [
        Case(f"site_{noun}.list", "GET", lambda t, n: path, ALL_OK),
        Case(f"site_{noun}.create", "POST", lambda t, n: path, only(SA=201, PA=201, PM=201),
             body=lambda t, n: {"name": f"c{n}", "project": "a", "spec": PLACED_SPECS[noun]},
             prepare=lambda api, t, n: placeable(api, "a")),
        Case(f"site_{noun}.show", "GET", lambda t, n: f"{path}/x{n}", ALL_OK,
             other=only(404, SA=200, SR=200, UN=403), prepare=make_placed(noun)),
        Case(f"site_{noun}.delete", "DELETE", lambda t, n: f"{path}/x{n}",
             only(SA=204, PA=204, PM=204), other=only(SA=204, PA=404, PM=404),
             prepare=make_placed(noun)),
    ]  # fmt: skip


def action_case(action: str) -> Case:
    return Case(f"site_servers.{action}", "POST",
                lambda t, n: f"/v1/sites/s1/servers/x{n}/{action}",
                only(SA=200, PA=200, PM=200), other=only(SA=200, PA=404, PM=404),
                prepare=make_placed("servers"))  # fmt: skip


SITE_CASES = [
    *(case for noun in PLACED_SPECS for case in placed_cases(noun)),
    *(action_case(action) for action in ("reboot", "stop", "start")),
    Case("site_servers.console", "POST", lambda t, n: f"/v1/sites/s1/servers/x{n}/console",
         only(SA=503, PA=503, PM=503), other=only(SA=503, PA=404, PM=404),
         prepare=make_placed("servers"), body=lambda t, n: {"length": 10},
         notes="members and admins, as Nova; asked of its site; s1 is not connected: 503"),
    Case("conflicts.list", "GET", lambda t, n: "/v1/conflicts", ALL_OK),
    Case("conflicts.show", "GET", lambda t, n: f"/v1/conflicts/{int(n):032x}", ALL_OK,
         other=only(404, SA=200, SR=200, UN=403), prepare=make_conflict),
    Case("conflicts.resolve", "POST", lambda t, n: f"/v1/conflicts/{int(n):032x}/resolve",
         only(SA=200, PA=200, PM=200), other=only(SA=200, PA=404, PM=404),
         body=lambda t, n: {"keep": "hub"}, prepare=make_conflict),
    Case("site_events.list", "GET", lambda t, n: "/v1/sites/s1/events", SYSTEM_READ),
    Case("site_operations.list", "GET", lambda t, n: "/v1/sites/s1/operations", SYSTEM_READ),
    Case("sync.connect", "GET", lambda t, n: "/v1/sync", only(401),
         notes="a site certificate, not a token: every token caller is 401"),
    *ALARM_CASES,
]  # fmt: skip


LCM_V = {"Version": "2.0.0"}


def subscription_path(target: str, n: str) -> str:
    return f"/vnflcm/v2/subscriptions/{int(n):032x}"


async def make_subscription(api: Api, target: str, n: str) -> None:
    key = subscription_path(target, n).rsplit("/", 1)[1]
    project_id = (await api.store.get("project", target)).value["id"]
    value = {"id": key, "project_id": project_id, "after": 0,
             "request": {"callbackUri": "http://vnfm.example/cb"}}  # fmt: skip
    await api.store.put(subscriptions.KIND, key, value, expect_revision=0)


SUBSCRIPTION_CASES = [
    Case("vnflcm.api_versions", "GET", lambda t, n: "/vnflcm/api_versions", only(200)),
    Case("vnflcm.v2.api_versions", "GET", lambda t, n: "/vnflcm/v2/api_versions", only(200)),
    Case("vnflcm_subscriptions.list", "GET", lambda t, n: "/vnflcm/v2/subscriptions",
         PROJECT_READ, headers=LCM_V),
    Case("vnflcm_subscriptions.create", "POST", lambda t, n: "/vnflcm/v2/subscriptions",
         only(PA=422, PM=422), body=lambda t, n: {"callbackUri": f"http://127.0.0.1:9/{n}"},
         headers=LCM_V, notes="the policy admits project writers; the loopback callback is "
         "then refused (422)"),
    Case("vnflcm_subscriptions.show", "GET", subscription_path, only(200, UN=403),
         other=only(404, SA=200, SR=200, UN=403), prepare=make_subscription, headers=LCM_V),
    Case("vnflcm_subscriptions.delete", "DELETE", subscription_path,
         only(SA=204, PA=204, PM=204), other=only(SA=204, PA=404, PM=404),
         prepare=make_subscription, headers=LCM_V),
]  # fmt: skip
CASES += SUBSCRIPTION_CASES


def lcm_id(n: str) -> str:
    return f"{int(n):032x}"


async def make_instance(api: Api, target: str, n: str) -> None:
    """A NOT_INSTANTIATED VNF instance of ``target``, and a COMPLETED op occurrence on it."""
    project_id = (await api.store.get("project", target)).value["id"]
    instance = VnfInstance(id=lcm_id(n), vnfd_id="d", vnf_provider="p", vnf_product_name="p",
                           vnf_software_version="1", vnfd_version="1")  # fmt: skip
    base = {"id": lcm_id(n), "project_id": project_id, "project": target, "vnfPkgId": "x"}
    await api.store.put(records.INSTANCE, lcm_id(n), records.instance_value(base, instance))
    occ = VnfLcmOpOcc(id=lcm_id(n), operation_state="COMPLETED", state_entered_time="t",
                      start_time="t", vnf_instance_id=lcm_id(n),
                      operation="INSTANTIATE")  # fmt: skip
    value = {"id": lcm_id(n), "project_id": project_id, "vnf_instance_id": lcm_id(n),
             "work": {"sites": {}}}  # fmt: skip
    await api.store.put(records.OP_OCC, lcm_id(n), records.occ_value(value, occ))


def lcm_task_case(task: str) -> Case:
    return Case(f"vnflcm.instances.{task}", "POST",
                lambda t, n: f"/vnflcm/v2/vnf_instances/{lcm_id(n)}/{task}",
                only(PA=400, PM=400), other=only(PA=404, PM=404),
                body=lambda t, n: {"unknownAttribute": 1}, prepare=make_instance, headers=LCM_V,
                notes="the caller may; the request is bad (400) or not theirs (404)")  # fmt: skip


def occ_task_case(task: str, body: Any = None, major: str = "v2") -> Case:
    route = f"vnflcm.op_occs.{task}" if major == "v2" else f"vnflcm.{major}.op_occs.{task}"
    return Case(route, "POST",
                lambda t, n: f"/vnflcm/{major}/vnf_lcm_op_occs/{lcm_id(n)}/{task}",
                only(SA=409, PA=409, PM=409), other=only(SA=409, PA=404, PM=404),
                body=None if body is None else lambda t, n: body,
                prepare=make_instance, notes="COMPLETED: no task (409)",
                headers=LCM_V)  # fmt: skip


LCM_CASES = [
    Case("vnflcm.instances.list", "GET", lambda t, n: "/vnflcm/v2/vnf_instances", PROJECT_READ,
         headers=LCM_V),
    Case("vnflcm.instances.create", "POST", lambda t, n: "/vnflcm/v2/vnf_instances",
         only(PA=400, PM=400), body=lambda t, n: {"vnfdId": f"none-{n}"},
         notes="instances belong to a project; no package has this VNFD (400)",
         headers=LCM_V),
    Case("vnflcm.instances.show", "GET", lambda t, n: f"/vnflcm/v2/vnf_instances/{lcm_id(n)}",
         PROJECT_READ, other=only(404, SA=200, SR=200, UN=403), prepare=make_instance,
         headers=LCM_V),
    Case("vnflcm.instances.delete", "DELETE",
         lambda t, n: f"/vnflcm/v2/vnf_instances/{lcm_id(n)}", only(PA=204, PM=204),
         other=only(PA=404, PM=404), prepare=make_instance, headers=LCM_V),
    *(lcm_task_case(task) for task in ("instantiate", "scale", "scale_to_level", "heal",
                                       "terminate", "change_vnfpkg")),
    Case("vnflcm.op_occs.list", "GET", lambda t, n: "/vnflcm/v2/vnf_lcm_op_occs", PROJECT_READ,
         headers=LCM_V),
    Case("vnflcm.op_occs.show", "GET", lambda t, n: f"/vnflcm/v2/vnf_lcm_op_occs/{lcm_id(n)}",
         PROJECT_READ, other=only(404, SA=200, SR=200, UN=403), prepare=make_instance,
         headers=LCM_V),
    *(occ_task_case(task) for task in ("retry", "rollback", "fail")),
    occ_task_case("cancel", {"cancelMode": "GRACEFUL"}),
    occ_task_case("cancel", {"cancelMode": "GRACEFUL"}, "v1"),  # python-tackerclient's
]  # fmt: skip
CASES += LCM_CASES


# public: sync.ca and sync.join take the join token as their credential; the attacker's view
# of them is tests/security/test_join.py
UNTESTED = {
    "openapi.show",
    "docs.show",
    "docs.asset",
    "auth.tokens.issue",
    "auth.keys.list",
    "auth.tokens.revoke_current",
    "sync.ca",
    "sync.join",
    # the dashboard's sign-in/out (a password; a session cookie) and its event stream: the
    # attacker's view is tests/security/test_dashboard_session.py, the rest tests/dashboard
    "ui.session.create",
    "ui.session.delete",
    "ui.events",
}
# the Keystone v3 facade authenticates and scopes in its handlers; the attacker's view of
# it (scope escalation, other users' tokens) is tests/security/test_keystone_facade.py
UNTESTED |= {p for p in POLICY if p.startswith("identity_v3.")}


def test_every_policy_entry_has_a_matrix_case() -> None:
    assert {c.route for c in CASES} | UNTESTED == set(POLICY)


CASES += SITE_CASES


@pytest.mark.parametrize("case", CASES, ids=[c.route for c in CASES])
async def test_policy(api: Api, case: Case) -> None:
    tokens = await world(api)
    failures = []
    targets = [("own", "a", case.own)] + ([("other", "b", case.other)] if case.other else [])
    for (label, target, expected), caller in itertools.product(targets, CALLERS):
        n = str(next(_counter))
        if case.prepare is not None:
            await case.prepare(api, target, n)
        body = case.body(target, n) if case.body else None
        path = case.path(target, n)
        status, data, _ = await api.call(case.method, path, tokens[caller], body, case.headers)
        if status != expected[caller]:
            failures.append(f"{caller} {label}: got {status}, want {expected[caller]}: {data}")
    assert not failures, "\n".join(failures)


async def test_a_route_missing_from_the_policy_table_is_denied(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey
) -> None:
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    app = build_app(TEST_SETTINGS, store, signing_key, FakeClock())

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"leaked": True})

    app.router.add_get("/v1/forgotten", handler, name="forgotten.show")
    api = Api(await aiohttp_client(app), FakeClock())
    resp = await api.client.get(
        "/v1/forgotten", headers={"Authorization": f"Bearer {await api.admin()}"}
    )
    assert resp.status == 403
    assert "not in the policy table" in (await resp.json())["error"]["message"]
