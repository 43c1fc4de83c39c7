"""Fixtures for the attacker's view: ``hub`` and ``site`` are real daemons, one per module.

Module scope, not session: the site agent holds the host-wide private-OVS lock while it runs
(see ``atoll.testbed.services.ovs``), and other modules' OVS tests must get it in turn.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.security.daemons import RunningHub, RunningSite, running_site


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/security/" in str(item.fspath) and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = RunningHub.start(tmp_path_factory.mktemp("sec-hub"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    """A site agent on real libvirtd + a private OVS, with its local admin logged in."""
    with running_site(tmp_path_factory.mktemp("sec-site")) as running:
        yield running


SITE_HUB_USER = "sec-site-service"
SITE_POLL_INTERVAL = 0.5  # seconds between the joined site's asks for the hub's revocations


@pytest.fixture(scope="module")
def joined_site(hub: RunningHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    """A site agent joined to the ``hub`` fixture's hub: it holds the hub's token public key
    (what joining leaves in its data dir) and reaches the hub as a hub user with a system
    ``member`` role, polling it every :data:`SITE_POLL_INTERVAL` seconds."""
    password = f"{SITE_HUB_USER}-{secrets.token_hex(8)}"
    hub.ok("POST", "/v1/users", {"name": SITE_HUB_USER, "password": password})
    grant = {"user": SITE_HUB_USER, "system": True, "role": "member"}
    hub.ok("POST", "/v1/role_assignments", grant)
    work = tmp_path_factory.mktemp("sec-joined-site")
    keys = hub.ok("GET", "/v1/auth/keys", token="")["keys"]
    (work / "agent").mkdir()
    (work / "agent" / "hub_public_key.pem").write_text(keys[0]["public_key_pem"])
    link = {
        "url": hub.url,
        "ca_file": hub.ca_file,
        "user": SITE_HUB_USER,
        "password": password,
        "revocation_poll_interval": SITE_POLL_INTERVAL,
        "image_poll_interval": 3600.0,
    }
    with running_site(work, {"hub": link}) as running:
        yield running
