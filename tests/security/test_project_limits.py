"""One project's member cannot make the hub work without bound for it.

Before: a member could create LCM subscriptions (each a callback the hub calls for every
notification of the project) and alarms (each a rule the hub evaluates every interval, and
webhooks it calls) without limit, all kept and all worked on. Now a project holds at most
``[hub] lcm_subscription_limit`` subscriptions and ``[hub] alarm_limit`` alarms: one more is
a 403 ``over_limit`` naming the setting, other projects are not affected, and deleting one
makes room again. Likewise a user holds at most ``[hub] app_credential_limit`` application
credentials (before: without limit, each a record in the hub's store, a member's loop of
creates grew it without end). And so for the records a member makes with nothing else to
pay (an image or a package created and never uploaded, a VNF instance never instantiated,
a network placed at a site, synced to the site's store too): a project holds at most
``image_limit`` images, ``vnf_package_limit`` packages, ``vnf_instance_limit`` instances,
``site_placement_limit`` objects at one site, of which ``site_network_limit`` networks
(each takes one of the site's 4094 local VLAN tags, which every project shares).
"""

from __future__ import annotations

import http.server
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hub.lcm.lcmtest import VNFD_ID
from tests.security.daemons import RunningHub, http_server, running_hub
from tests.security.test_lcm_tenancy import onboard_with_external_cp

LIMIT = 3
CONFIG = f"""[hub]
lcm_callback_loopback = true   # the test's callback receiver is on this machine
lcm_subscription_limit = {LIMIT}
alarm_limit = {LIMIT}
app_credential_limit = {LIMIT}
image_limit = {LIMIT}
vnf_package_limit = {LIMIT}
vnf_instance_limit = {LIMIT}
site_placement_limit = {LIMIT}
site_network_limit = {LIMIT - 1}
"""
SUBSCRIPTIONS = "/vnflcm/v2/subscriptions"
V2 = {"Version": "2.0.0"}


class _Callback(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the hub's test of a new subscription
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def callback() -> Iterator[str]:
    with http_server(_Callback) as port:
        yield f"http://127.0.0.1:{port}/cb"


@pytest.fixture(scope="module")
def limited_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub(Path(tmp_path_factory.mktemp("sec-limits")), config=CONFIG) as running:
        yield running


def _refused_over(
    hub: RunningHub, setting: str, path: str, body: object, token: str, v2: bool = False
) -> None:
    """One more create is a 403 naming the setting: Atoll's error body, or a SOL013
    ProblemDetails on the NFV APIs."""
    refused = hub.call("POST", path, body, token=token, headers=V2 if v2 else None)
    assert refused.status == 403, refused
    said = refused.body.get("error") or refused.body
    assert said.get("code", "over_limit") == "over_limit", refused
    assert setting in (said.get("message") or said.get("detail")), refused


def _holds_its_limit(
    hub: RunningHub,
    setting: str,
    path: str,
    body: Callable[[int], object],
    owner: str,
    other: str | None = None,
    v2: bool = False,
) -> None:
    """``owner`` creates ``body(n)`` up to the limit and one more is refused naming
    ``setting``; ``other`` (another holder) still has its own room; deleting one of
    ``owner``'s makes room again."""
    headers = V2 if v2 else None
    held = [hub.ok("POST", path, body(n), token=owner, headers=headers)["id"]
            for n in range(LIMIT)]  # fmt: skip
    _refused_over(hub, setting, path, body(LIMIT), owner, v2)
    if other is not None:
        hub.ok("POST", path, body(LIMIT + 1), token=other, headers=headers)
    hub.ok("DELETE", f"{path}/{held[0]}", token=owner, headers=headers)
    hub.ok("POST", path, body(LIMIT + 2), token=owner, headers=headers)


def test_a_project_holds_at_most_its_limit_of_lcm_subscriptions(
    limited_hub: RunningHub, callback: str
) -> None:
    hub = limited_hub
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"lim-a-{tag}", f"lim-alice-{tag}")
    bob = hub.tenant(f"lim-b-{tag}", f"lim-bob-{tag}")
    body = {"callbackUri": callback}
    held = [hub.ok("POST", SUBSCRIPTIONS, body, token=alice, headers=V2)["id"]
            for _ in range(LIMIT)]  # fmt: skip
    refused = hub.call("POST", SUBSCRIPTIONS, body, token=alice, headers=V2)
    assert refused.status == 403, refused
    assert "lcm_subscription_limit" in refused.raw.decode(), refused
    listed = hub.ok("GET", SUBSCRIPTIONS, token=alice, headers=V2)
    assert sorted(s["id"] for s in listed) == sorted(held)
    hub.ok("POST", SUBSCRIPTIONS, body, token=bob, headers=V2)  # another project's own room
    hub.ok("DELETE", f"{SUBSCRIPTIONS}/{held[0]}", token=alice, headers=V2)
    hub.ok("POST", SUBSCRIPTIONS, body, token=alice, headers=V2)


def test_a_project_holds_at_most_its_limit_of_alarms(limited_hub: RunningHub) -> None:
    hub = limited_hub
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"alm-a-{tag}", f"alm-alice-{tag}")
    site = f"alm-{tag}"
    hub.ok("POST", "/v1/sites", {"name": site})
    hub.ok("POST", "/v1/flavors", {"name": f"m-{tag}", "vcpus": 1, "ram_mb": 64, "disk_gb": 1})
    image = hub.ok("POST", "/v1/images", {"name": f"i-{tag}", "disk_format": "raw"},
                   token=alice)["id"]  # fmt: skip
    hub.ok("PUT", f"/v1/images/{image}/file", raw=bytes(4096), token=alice,
           headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    spec = {"flavor": f"m-{tag}", "image": image}
    server = hub.ok("POST", f"/v1/sites/{site}/servers", {"name": "vm", "spec": spec},
                    token=alice)["id"]  # fmt: skip
    rule = {"metric": "server_cpu_utilization_ratio", "threshold": 0.9,
            "labels": {"server": server}}  # fmt: skip
    body = {"name": "cpu", "type": "threshold", "site": site, "rule": rule}
    held = [hub.ok("POST", "/v1/alarms", body, token=alice)["id"] for _ in range(LIMIT)]
    _refused_over(hub, "alarm_limit", "/v1/alarms", body, alice)
    assert len(hub.ok("GET", "/v1/alarms", token=alice)["items"]) == LIMIT
    hub.ok(
        "POST",
        "/v1/alarms",
        {**body, "rule": {"state": "offline"}, "type": "site_state", "name": "fleet"},
    )  # fmt: skip  (system scope: not counted)
    hub.ok("DELETE", f"/v1/alarms/{held[0]}", token=alice)
    hub.ok("POST", "/v1/alarms", body, token=alice)


def test_a_user_holds_at_most_its_limit_of_application_credentials(
    limited_hub: RunningHub,
) -> None:
    hub = limited_hub
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"crd-a-{tag}", f"crd-alice-{tag}")
    bob = hub.tenant(f"crd-a-{tag}", f"crd-bob-{tag}")  # the same project: a user's own room
    _holds_its_limit(hub, "app_credential_limit", "/v1/application_credentials",
                     lambda n: {"name": f"c{n}"}, alice, bob)  # fmt: skip


def test_a_project_holds_at_most_its_limit_of_images_and_packages(
    limited_hub: RunningHub,
) -> None:
    hub = limited_hub
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"img-a-{tag}", f"img-alice-{tag}")
    bob = hub.tenant(f"img-b-{tag}", f"img-bob-{tag}")
    _holds_its_limit(hub, "image_limit", "/v1/images",
                     lambda _: {"name": "queued", "disk_format": "raw"}, alice, bob)  # fmt: skip
    _holds_its_limit(hub, "vnf_package_limit", "/vnfpkgm/v1/vnf_packages", lambda _: {}, alice,
                     bob)  # fmt: skip


def test_a_project_holds_at_most_its_limit_of_vnf_instances(limited_hub: RunningHub) -> None:
    hub = limited_hub
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"vnf-a-{tag}", f"vnf-alice-{tag}")
    onboard_with_external_cp(hub, alice)  # one image and one package of the project's
    _holds_its_limit(hub, "vnf_instance_limit", "/vnflcm/v2/vnf_instances",
                     lambda _: {"vnfdId": VNFD_ID}, alice, v2=True)  # fmt: skip


def test_a_project_places_at_most_its_limit_of_objects_at_one_site(
    limited_hub: RunningHub,
) -> None:
    hub = limited_hub
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"plc-a-{tag}", f"plc-alice-{tag}")
    one, other = f"plc-{tag}-1", f"plc-{tag}-2"
    for site in (one, other):
        hub.ok("POST", "/v1/sites", {"name": site})
    path = f"/v1/sites/{one}/networks"
    held = [hub.ok("POST", path, {"name": f"n{n}", "spec": {}}, token=alice)["id"]
            for n in range(LIMIT - 1)]  # fmt: skip
    _refused_over(hub, "site_network_limit", path, {"name": "more", "spec": {}}, alice)
    volume = {"name": "v0", "spec": {"size_gb": 1}}
    hub.ok("POST", f"/v1/sites/{one}/volumes", volume, token=alice)
    _refused_over(hub, "site_placement_limit", f"/v1/sites/{one}/volumes",
                  {**volume, "name": "v1"}, alice)  # fmt: skip
    hub.ok("POST", f"/v1/sites/{other}/networks", {"name": "n0", "spec": {}}, token=alice)
    hub.ok("DELETE", f"{path}/{held[0]}", token=alice)
