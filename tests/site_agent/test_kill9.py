"""``kill -9`` of a real agent process in the middle of a create, then a restart.

The agent runs as ``atoll site-agent run`` on real libvirtd, a private OVS and qemu-img. The
test watches the agent's journal (SQLite, read-only) and SIGKILLs the process as soon as a
given step of the server's build has been journaled. The restarted agent must finish the
server with exactly one domain, one OVS port, one tap and one overlay; deleting everything
afterwards must leave nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from atoll.testbed.services.ovs import PrivateOVS
from atoll.testbed.services.ports import free_port
from tests.site_agent import real_site

pytestmark = pytest.mark.integration


def journaled(db: Path, action: str, state: str | None = None) -> bool:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
    except sqlite3.Error:
        return False
    try:
        sql, args = "SELECT 1 FROM journal WHERE action = ?", [action]
        if state is not None:
            sql, args = sql + " AND state = ?", [action, state]
        row = conn.execute(sql + " LIMIT 1", args).fetchone()
        return row is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def wait(check: Any, limit: float, what: str, step: float = 0.2) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


@pytest.fixture
def agent_process(
    tmp_path: Path, ovs: PrivateOVS, domain_prefix: str
) -> Iterator[tuple[real_site.AgentProcess, real_site.Names]]:
    names = real_site.Names.unique(domain_prefix)
    settings = real_site.settings_for(tmp_path / "agent", ovs, names)
    config = real_site.config_file(tmp_path / "agent.toml", settings)
    agent = real_site.AgentProcess(tmp_path / "agent", config, free_port())
    try:
        yield agent, names
    finally:
        agent.stop()
        real_site.remove_links(names.device_prefix)


@pytest.mark.parametrize("kill_after", ["prepare_port", "plug_port", "define"])
def test_kill9_mid_create_then_restart(
    agent_process: tuple[real_site.AgentProcess, real_site.Names],
    kill_after: str,
    tmp_path: Path,
    ovs: PrivateOVS,
    libvirt_conn: libvirt.virConnect,
) -> None:
    agent, names = agent_process
    first_out = agent.start()
    secret = first_out.split("secret: ", 1)[1].split()[0]
    agent.token = agent.call("POST", "/v1/auth/tokens", {"name": "admin", "secret": secret})[
        "token"
    ]
    kernel, blank = real_site.test_images(tmp_path / "images")
    for image in (kernel, blank):
        agent.upload(image)
    agent.call("POST", "/v1/networks", {"name": "lan"})
    agent.call("POST", "/v1/subnets", {"network": "lan", "cidr": "10.62.0.0/24"})
    body = {
        "name": "vm1",
        "flavor": "tiny",
        "image": "blank",
        "kernel": "tiny-kernel",
        "nics": [{"network": "lan"}],
    }
    sid = agent.call("POST", "/v1/servers", body)["server"]["id"]
    db = agent.data_dir / "agent.db"
    wait(lambda: journaled(db, kill_after), 60, f"the {kill_after} step to be journaled", 0.005)
    agent.kill9()
    assert not journaled(db, "start", "done"), "the kill came after the create had finished"

    restart_out = agent.start()
    assert "secret" not in restart_out  # the credential is printed once, at first start only
    agent.token = agent.call("POST", "/v1/auth/tokens", {"name": "admin", "secret": secret})[
        "token"
    ]
    wait(
        lambda: agent.call("GET", f"/v1/servers/{sid}")["server"]["status"] == "ACTIVE",
        90,
        "ACTIVE",
    )
    left = real_site.residue(libvirt_conn, ovs, names, agent.data_dir)
    assert left["domains"] == [names.domain_prefix + sid]
    assert len(left["ovs_ports"]) == 1 and left["taps"] == left["ovs_ports"]
    assert left["disks"] == [f"{sid}.qcow2"]
    assert left["instances"] == [sid]

    agent.call("DELETE", f"/v1/servers/{sid}")
    wait(lambda: not agent.call("GET", "/v1/servers")["items"], 60, "server deleted")
    agent.call("DELETE", "/v1/networks/lan")
    wait(lambda: not agent.call("GET", "/v1/networks")["items"], 30, "network deleted")
    assert real_site.residue(libvirt_conn, ovs, names, agent.data_dir) == real_site.EMPTY
