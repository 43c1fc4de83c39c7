"""One tenant's LCM callback cannot hold back another tenant's notifications.

Before: every delivery pass waited for every subscriber, and a subscriber got its
notifications one at a time, so a callback that answered 204 just under the timeout (it
never counted as failing) made each pass last (its notifications) x (its answer time).
Tenant A, with a callback answering after 3 s, created and deleted a few VNF instances (two
notifications each, no site needed) and tenant B's notification then waited for all of A's
to be answered: about half a minute, and without bound as A kept creating.

Now each subscription is served on its own (a bounded pool of deliveries, at most a share
of it per project), and a callback answering slower than ``lcm_callback_slow`` is backed
off as a failing one is: it delays only its own notifications.
"""

from __future__ import annotations

import http.server
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.lcm.lcmtest import VNFD_ID
from tests.security.daemons import RunningHub, http_server, running_hub
from tests.security.test_lcm_tenancy import onboard_with_external_cp

SUBSCRIPTIONS = "/vnflcm/v2/subscriptions"
INSTANCES = "/vnflcm/v2/vnf_instances"
V2 = {"Version": "2.0.0"}
SLOW = 3.0  # seconds tenant A's callback takes to answer each notification (timeout: 10 s)
PROMPT = 5.0  # seconds B's notification may take, at most (it takes well under 1 s alone)
CONFIG = """[hub]
lcm_callback_loopback = true   # the test's callback receiver is on this machine
lcm_delivery_interval = 0.2
"""


class _Callbacks(http.server.BaseHTTPRequestHandler):
    """Both tenants' callbacks: ``/slow`` answers each notification after :data:`SLOW`
    seconds, ``/fast`` at once; the test GET at creation is answered 204 at once."""

    got: list[tuple[float, str, dict[str, str]]] = []

    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/slow":
            time.sleep(SLOW)
        self.got.append((time.monotonic(), self.path, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def callbacks() -> Iterator[tuple[int, list[tuple[float, str, dict[str, str]]]]]:
    with http_server(_Callbacks) as port:
        yield port, _Callbacks.got


@pytest.fixture(scope="module")
def lab_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A hub that may call back on loopback (``lcm_callback_loopback``), as a lab does."""
    with running_hub(Path(tmp_path_factory.mktemp("sec-callbacks")), config=CONFIG) as running:
        yield running


def test_a_slow_callback_does_not_delay_another_projects_notifications(
    lab_hub: RunningHub, callbacks: tuple[int, list[tuple[float, str, dict[str, str]]]]
) -> None:
    hub = lab_hub
    port, got = callbacks
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"cb-a-{tag}", f"cb-alice-{tag}")
    bob = hub.tenant(f"cb-b-{tag}", f"cb-bob-{tag}")
    for token in (alice, bob):
        onboard_with_external_cp(hub, token)
    vnfd = {"vnfdId": VNFD_ID}
    for token, path in ((alice, "slow"), (bob, "fast")):
        body = {"callbackUri": f"http://127.0.0.1:{port}/{path}"}
        hub.ok("POST", SUBSCRIPTIONS, body, token=token, headers=V2)
    # A makes notifications cheaply: each create and delete of an instance is two
    made = []
    for _ in range(6):
        instance = hub.ok("POST", INSTANCES, vnfd, token=alice, headers=V2)["id"]
        hub.ok("DELETE", f"{INSTANCES}/{instance}", token=alice, headers=V2)
        made.append(instance)
    time.sleep(1.0)  # A's first notification is being answered (slowly) now
    asked = time.monotonic()
    mine = hub.ok("POST", INSTANCES, vnfd, token=bob, headers=V2)["id"]
    deadline = asked + 30.0
    while not any(path == "/fast" for _, path, _ in got) and time.monotonic() < deadline:
        time.sleep(0.05)
    fast = [(at, body) for at, path, body in got if path == "/fast"]
    assert fast, "B's notification never came"
    arrived, note = fast[0]
    assert note["vnfInstanceId"] == mine
    assert note["notificationType"] == "VnfIdentifierCreationNotification"
    assert arrived - asked < PROMPT, f"B's notification took {arrived - asked:.1f} s"
    # A is served too, in order, at its own (slow) pace
    slow_deadline = time.monotonic() + 4 * SLOW
    while len([p for _, p, _ in got if p == "/slow"]) < 2 and time.monotonic() < slow_deadline:
        time.sleep(0.1)
    slow = [body for _, path, body in got if path == "/slow"]
    assert [(n["notificationType"], n["vnfInstanceId"]) for n in slow[:2]] == [
        ("VnfIdentifierCreationNotification", made[0]),
        ("VnfIdentifierDeletionNotification", made[0]),
    ]
