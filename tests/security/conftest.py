"""Fixtures for the attacker's view: ``hub`` and ``site`` are real daemons, one per module.

Module scope, not session: the site agent holds the host-wide private-OVS lock while it runs
(see ``atoll.testbed.services.ovs``), and other modules' OVS tests must get it in turn.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from atoll.testbed.services import libvirtd
from atoll.testbed.services.ovs import PrivateOVS
from atoll.testbed.services.ports import free_port
from tests.fixtures import DOMAIN_PREFIX
from tests.security.daemons import RunningHub, RunningSite
from tests.site_agent import real_site


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
    work = tmp_path_factory.mktemp("sec-site")
    ovs = PrivateOVS(Path("/tmp") / f"atoll-ovs-{secrets.token_hex(4)}").start()
    prefix = f"{DOMAIN_PREFIX}{secrets.token_hex(3)}-"
    names = real_site.Names.unique(prefix)
    agent = None
    try:
        settings = real_site.settings_for(work / "agent", ovs, names)
        import_dir = work / "import"
        import_dir.mkdir()
        extra = {"image_import_dir": str(import_dir)}
        config = real_site.config_file(work / "agent.toml", settings, extra)
        agent = real_site.AgentProcess(work / "agent", config, free_port())
        printed = agent.start()
        secret = printed.split("secret:", 1)[1].split()[0]
        agent.login(secret)
        yield RunningSite(
            agent.url, token=agent.token, data_dir=agent.data_dir, secret=secret,
            agent=agent, names=names, import_dir=import_dir,
        )  # fmt: skip
    finally:
        if agent is not None:
            agent.stop()
        conn = libvirtd.connect()
        try:
            libvirtd.remove_domains(conn, prefix)
        finally:
            conn.close()
        real_site.remove_links(names.device_prefix)
        ovs.stop()
