"""``[site_agent] drivers = "fake"``: a real agent process on the drivers' fakes (a simulated
site: the real API, store and reconciler; nothing runs on the host)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.site_agent.settings import AgentSettings, SiteAgentSettings
from atoll.testbed.services.ports import free_port
from tests.site_agent.real_site import AgentProcess, config_file

pytestmark = pytest.mark.integration


def test_an_agent_on_fake_drivers_serves_and_converges(tmp_path: Path) -> None:
    settings = SiteAgentSettings(
        site_agent=AgentSettings(site_name="sim-1", drivers="fake", reconcile_interval=0.2)
    )
    agent = AgentProcess(tmp_path / "agent", config_file(tmp_path / "agent.toml", settings),
                         free_port())  # fmt: skip
    try:
        printed = agent.start()
        agent.login(printed.split("secret:", 1)[1].split()[0])
        health = agent.call("GET", "/health")
        assert health["site"] == "sim-1" and health["status"] == "ok"
        net = agent.call("POST", "/v1/networks", {"name": "n1"})["network"]
        agent.call("POST", "/v1/subnets", {"network": net["id"], "cidr": "10.9.0.0/24"})
        assert agent.call("GET", f"/v1/networks/{net['id']}")["network"]["id"] == net["id"]
    finally:
        agent.stop()
    assert not (tmp_path / "agent" / "instances").exists() or not any(
        (tmp_path / "agent" / "instances").iterdir()
    )
