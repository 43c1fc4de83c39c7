"""A field engineer's join across a real network: the hub in one namespace, a new site agent
in another, a Linux bridge between them, and a rogue hub advertising itself beside the real one.

``atoll site discover`` (hub side) finds the unjoined agent by its zeroconf advert; ``atoll
site-agent join --token`` (site side) finds hubs by theirs and joins only the one that proves
it knows the token (the CA discovery MAC): the rogue's advert is only a hint, and refused.
The running agent picks the join up without a restart and withdraws its advert.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atoll.site_agent.hub_link import fingerprint, site_key
from atoll.testbed.services.netns import HostNetwork
from atoll.testbed.services.process import reap, spawn
from tests.security.daemons import ATOLL, RunningHub, running_site, site_join


@dataclass(frozen=True)
class Lan:
    hub_ns: str
    site_ns: str
    hub_ip: str
    rogue_ip: str
    site_ip: str


@pytest.fixture
def lan(hostnet: HostNetwork) -> Iterator[Lan]:
    """Two namespaces on one bridge (the host end of the bridge has an address too, so the
    test can call the daemons); removed after the test by ``hostnet``."""
    net = f"10.{secrets.choice(range(200, 250))}.{secrets.randbelow(250)}"
    bridge = hostnet.bridge()
    hostnet.add_address(bridge, f"{net}.254/24")
    hub_ns, site_ns = hostnet.netns("hub"), hostnet.netns("site")
    addresses = {hub_ns: [f"{net}.1/24", f"{net}.3/24"], site_ns: [f"{net}.2/24"]}
    for ns, cidrs in addresses.items():
        host_end, ns_end = hostnet.veth(None, ns)
        hostnet.enslave(host_end, bridge)
        for cidr in cidrs:
            hostnet.add_address(ns_end, cidr, netns=ns)
    yield Lan(hub_ns, site_ns, f"{net}.1", f"{net}.3", f"{net}.2")


def discover(lan: Lan) -> list[dict[str, str]]:
    """``atoll site discover -f json`` run on the hub's side of the network."""
    argv = ["ip", "netns", "exec", lan.hub_ns, str(ATOLL), "site", "discover"]
    done = subprocess.run(
        [*argv, "--timeout", "3", "-f", "json"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_a_site_joins_by_zeroconf_and_a_rogue_hub_is_refused(lan: Lan, tmp_path: Path) -> None:
    hub = RunningHub.start(tmp_path / "real", san=(lan.hub_ip,), host=lan.hub_ip, netns=lan.hub_ns)
    rogue = None
    try:
        rogue = RunningHub.start(
            tmp_path / "rogue", san=(lan.rogue_ip,), host=lan.rogue_ip, netns=lan.hub_ns
        )
        name = f"edge-zc-{secrets.token_hex(3)}"
        work = tmp_path / "site"
        work.mkdir()
        settings = {"site_agent": {"site_name": name}}
        with running_site(  # a join never reaches a driver
            work, settings, netns=lan.site_ns, host=lan.site_ip, drivers="fake"
        ) as site:
            key_fp = fingerprint(site_key(site.data_dir))
            seen = {row["name"]: row for row in discover(lan)}
            assert name in seen, seen
            assert seen[name]["address"] == lan.site_ip
            assert seen[name]["fingerprint"] == key_fp
            token = hub.join_token(name)["token"]
            done = site_join(site.data_dir, "--token", token, netns=lan.site_ns)
            assert done.returncode == 0, done.stderr
            link = json.loads((site.data_dir / "hub" / "link.json").read_text())
            assert link["hub_url"].startswith(f"https://{lan.hub_ip}:")
            record = hub.ok("GET", f"/v1/sites/{name}")
            assert record["agent_fingerprint"] == key_fp and record["cert_serial"]
            assert "join refused from" in rogue.log  # it was asked, and could not prove it
            assert "POST /v1/sync/join" not in rogue.log  # so the token never went to it
            deadline = time.monotonic() + 60
            while name in {row["name"] for row in discover(lan)}:
                assert time.monotonic() < deadline, "the joined agent still advertises"
            agent_log = (work / "agent.log").read_text()
            assert f"joined hub {link['hub_url']} as site {name}" in agent_log
    finally:
        if rogue is not None:
            rogue.stop()
        hub.stop()


def test_a_hub_without_a_multicast_route_serves_and_says_so_once(
    hostnet: HostNetwork, tmp_path: Path
) -> None:
    """A namespace with only loopback (a veth without multicast, too): the advert cannot go
    out; the hub serves anyway and says so once."""
    bare = hostnet.netns("bare")
    _, inside = hostnet.veth(None, bare)
    hostnet.add_address(inside, "198.51.100.77/24", netns=bare)
    subprocess.run(["ip", "-n", bare, "link", "set", inside, "multicast", "off"], check=True)
    data = tmp_path / "hub"
    env = {"ATOLL_ADMIN_PASSWORD": "a-long-enough-password", "PATH": "/usr/bin:/bin"}
    subprocess.run([str(ATOLL), "hub", "init", "--data-dir", str(data)], check=True, env=env)
    log = tmp_path / "hub.log"
    argv = [str(ATOLL), "hub", "serve", "--data-dir", str(data), "--host", "127.0.0.1"]
    proc = spawn(["ip", "netns", "exec", bare, *argv, "--port", "8470"], log)
    try:
        deadline = time.monotonic() + 30
        while "going on without the advert" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        assert "hub serving on https://127.0.0.1:8470" in log.read_text()
        assert proc.poll() is None  # still serving
    finally:
        reap(proc)
    assert log.read_text().count("cannot advertise") == 1
    assert "Traceback" not in log.read_text()
