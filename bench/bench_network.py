"""Network driver: plug + unplug of VM ports per second, against the plain shell way.

Ours (``OvsNetwork``): tap via pyroute2, TX checksum off, OVS port with Neutron-style
external_ids and tag in one ovsdbapp transaction, anti-spoofing flows, link up; then flows,
port and tap removed. Baselines, in the same run on the same private OVS:

- ``network_plug_unplug``: ``ip tuntap add`` + ``ovs-vsctl add-port ... -- set interface ...
  external_ids`` + ``ip link set up`` + ``ovs-vsctl del-port`` + ``ip link del`` (os-vif
  style shell plumbing, with no anti-spoofing rules: less work than ours);
- ``network_plug_unplug_same_work``: the same plus the same anti-spoofing flows through
  ``ovs-vsctl get ... ofport``, ``ovs-ofctl add-flows`` and ``ovs-ofctl del-flows``.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
import uuid
from pathlib import Path

from atoll.site_agent.drivers.network.base import FixedIp, NetworkSpec, PortSpec, SubnetSpec
from atoll.site_agent.drivers.network.flows import antispoof_flows, port_cookie
from atoll.site_agent.drivers.network.links import HostLinks
from atoll.site_agent.drivers.network.ovs import OvsNetwork
from atoll.site_agent.drivers.network.settings import NetworkSettings
from atoll.testbed.services.ovs import PrivateOVS
from bench.report import emit, median_of, rate

RUNS = 3
PORTS = 20
NET = NetworkSpec(
    id="bench",
    name="bench",
    subnets=(SubnetSpec(id="s", cidr="10.254.0.0/24", gateway="10.254.0.1"),),
)


def ports() -> list[PortSpec]:
    return [
        PortSpec(
            id=str(uuid.uuid4()),
            network_id=NET.id,
            mac=f"fa:16:3e:00:00:{i:02x}",
            server_id="bench",
            fixed_ips=(FixedIp("s", f"10.254.0.{i + 2}"),),
        )
        for i in range(PORTS)
    ]


def ours(ovs: PrivateOVS, bridge: str) -> float:
    settings = NetworkSettings(
        ovsdb_remote=ovs.remote, integration_bridge=bridge, device_prefix="at-nb", owner="bench"
    )

    async def cycle() -> float:
        driver = OvsNetwork(settings)
        await driver.start()
        try:
            await driver.ensure_network(NET)
            specs = ports()

            async def work() -> None:
                for spec in specs:
                    await driver.plug_port(NET, spec)
                for spec in specs:
                    await driver.unplug_port(spec.id)

            start = asyncio.get_running_loop().time()
            await work()
            return PORTS / (asyncio.get_running_loop().time() - start)
        finally:
            await driver.close()

    return asyncio.run(cycle())


def ofport_of(ovs: PrivateOVS, name: str) -> int:
    """vswitchd may number a new port a moment after ovs-vsctl returns: poll, as we do."""
    while True:
        text = ovs.vsctl("get", "interface", name, "ofport").strip()
        if text.lstrip("-").isdigit() and int(text) > 0:
            return int(text)
        time.sleep(0.01)


def shell(ovs: PrivateOVS, bridge: str, flows: bool = False) -> float:
    names = [f"at-nr{secrets.token_hex(4)}" for _ in range(PORTS)]
    mgmt = f"unix:{ovs.rundir / (bridge + '.mgmt')}"

    def run(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True)

    def work() -> None:
        for i, name in enumerate(names):
            run("ip", "tuntap", "add", "dev", name, "mode", "tap")
            ovs.vsctl(
                "add-port", bridge, name, "--", "set", "interface", name,
                f"external_ids:iface-id=p{i}", f"external_ids:attached-mac=fa:16:3e:00:01:{i:02x}",
                "external_ids:iface-status=active", "--", "set", "port", name, "tag=4094",
            )  # fmt: skip
            if flows:
                ofport = ofport_of(ovs, name)
                rules = antispoof_flows(name, ofport, f"fa:16:3e:00:01:{i:02x}", [f"10.254.1.{i}"])
                subprocess.run(
                    ["ovs-ofctl", "add-flows", mgmt, "-"], input="\n".join(rules).encode(),
                    check=True, capture_output=True,
                )  # fmt: skip
            run("ip", "link", "set", name, "up")
        for name in names:
            if flows:
                run("ovs-ofctl", "del-flows", mgmt, f"cookie={port_cookie(name):#x}/-1")
            ovs.vsctl("del-port", bridge, name)
            run("ip", "link", "del", name)

    return rate(PORTS, work)


def main() -> None:
    ovs = PrivateOVS(Path("/tmp") / f"atoll-ovs-bench-{secrets.token_hex(3)}").start()
    bridge = f"at-bb{secrets.token_hex(3)}"
    try:
        ovs.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev")
        bare = median_of(RUNS, lambda: shell(ovs, bridge))
        same = median_of(RUNS, lambda: shell(ovs, bridge, flows=True))
        value = median_of(RUNS, lambda: ours(ovs, bridge))
        emit("network_plug_unplug", value, "ports/s", bare)
        emit("network_plug_unplug_same_work", value, "ports/s", same)
    finally:
        ovs.stop()
        links = HostLinks()
        for name in links.names("at-nb") + links.names("at-nr"):
            links.delete(name)


if __name__ == "__main__":
    main()
