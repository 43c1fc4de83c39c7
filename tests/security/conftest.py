"""Fixtures for the attacker's view: ``hub`` and ``site`` are real daemons, one per module.

``site`` runs on real libvirtd and a private OVS, for attacks that reach the drivers (host
paths, image sources and formats, capacity, subnets, fuzzing, files at rest). ``api_site``
and ``joined_site`` are the same daemon on the drivers' in-memory fakes, for attacks that
stop at the API or the hub link (authentication, request parsing, floods, revocations):
they need no private OVS, so their tests run beside the ones that do.

Module scope, not session: the site agent holds the host-wide private-OVS lock while it runs
(see ``atoll.testbed.services.ovs``), and other modules' OVS tests must get it in turn.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.security.daemons import RunningHub, RunningSite, running_hub, running_site, site_join


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/security/" in str(item.fspath) and not item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub(tmp_path_factory.mktemp("sec-hub")) as running:
        yield running


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    """A site agent on real libvirtd + a private OVS, with its local admin logged in."""
    with running_site(tmp_path_factory.mktemp("sec-site")) as running:
        yield running


@pytest.fixture(scope="module")
def api_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    """A site agent on the drivers' in-memory fakes, with its local admin logged in."""
    with running_site(tmp_path_factory.mktemp("sec-api-site"), drivers="fake") as running:
        yield running


SITE_POLL_INTERVAL = 0.5  # seconds between the joined site's asks for the hub's revocations


@pytest.fixture(scope="module")
def joined_site(hub: RunningHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    """A site agent (on the drivers' fakes) joined to the ``hub`` fixture's hub with a join
    code (``atoll site-agent join``: it holds the hub's token public key and its site
    certificate), polling the hub for revocations every :data:`SITE_POLL_INTERVAL` seconds."""
    work = tmp_path_factory.mktemp("sec-joined-site")
    code = hub.join_token(f"sec-site-{secrets.token_hex(3)}")["code"]
    joined = site_join(work / "agent", code)
    assert joined.returncode == 0, joined.stderr
    link = {"revocation_poll_interval": SITE_POLL_INTERVAL, "image_poll_interval": 3600.0}
    with running_site(work, {"hub": link}, drivers="fake") as running:
        yield running
