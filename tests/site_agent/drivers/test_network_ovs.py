"""The OVS network driver against a private, real Open vSwitch (netdev datapath) and real
network namespaces: traffic flows where it should and nowhere else."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import os
import secrets
import select
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from atoll.site_agent.drivers.network.base import (
    FixedIp,
    NetworkDriver,
    NetworkSpec,
    PortSpec,
    SubnetSpec,
    device_name,
)
from atoll.site_agent.drivers.network.errors import (
    NetworkFailure,
    NetworkNotFound,
    NetworkSpecInvalid,
    SegmentInUse,
)
from atoll.site_agent.drivers.network.links import HostLinks
from atoll.site_agent.drivers.network.ovs import OvsNetwork
from atoll.site_agent.drivers.network.settings import NetworkSettings
from atoll.site_agent.drivers.network.sriov import SriovPool
from atoll.testbed.services.netns import HostNetwork, ip
from atoll.testbed.services.ovs import PrivateOVS
from tests.site_agent.drivers.test_sriov import Recorder, make_sysfs

pytestmark = pytest.mark.integration

T = TypeVar("T")
SUBNET = SubnetSpec(id="sub-1", cidr="10.253.0.0/24", gateway="10.253.0.1")


@dataclass
class Rig:
    driver: OvsNetwork
    ovs: PrivateOVS
    hostnet: HostNetwork
    prefix: str
    uplink: str  # host end of the uplink veth (on the integration bridge)
    far: str  # its other end, in the host: the "wire" to whatever the test puts there


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True)


def ping(ns: str, address: str, *, tries: int = 3, source: str | None = None) -> bool:
    """One echo answered within ``tries`` attempts (the first packets learn MACs)."""
    argv = ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1"]
    argv += ["-I", source] if source else []
    for _ in range(tries):
        if subprocess.run([*argv, address], capture_output=True).returncode == 0:
            return True
    return False


async def off(call: Callable[..., T], *args: object) -> T:
    """Run a blocking host call in a thread: pyroute2's IPRoute refuses an event loop thread."""
    return await asyncio.to_thread(call, *args)


@pytest.fixture
async def rig(ovs: PrivateOVS, hostnet: HostNetwork) -> AsyncIterator[Rig]:
    uplink, far = hostnet.veth(None, None)
    prefix = f"at-{secrets.token_hex(2)[:3]}-"
    settings = NetworkSettings(
        ovsdb_remote=ovs.remote,
        integration_bridge=f"at-i{secrets.token_hex(3)}",
        physical_networks=(f"physnet1:{uplink}",),
        device_prefix=prefix,
        owner=f"test-{secrets.token_hex(3)}",
    )
    driver = OvsNetwork(settings)
    try:
        await start(driver)
        yield Rig(driver, ovs, hostnet, prefix, uplink, far)
    finally:
        with contextlib.suppress(Exception):
            for port in await driver.list_ports():
                await driver.unplug_port(port.port_id)
        await driver.close()
        links = HostLinks()
        for name in await off(links.names, prefix):
            await off(links.delete, name)


async def start(driver: OvsNetwork) -> None:
    # The `ovs` fixture holds the host-wide netdev lock (see testbed/services/ovs.py),
    # so the bridge comes up on the first try.
    await driver.start()


def port(network: NetworkSpec, host: int, **extra: object) -> PortSpec:
    return PortSpec(
        id=str(uuid.uuid4()),
        network_id=network.id,
        mac=f"fa:16:3e:00:{network.vlan_id or 0:02x}:{host:02x}"[:17],
        server_id=f"server-{host}",
        fixed_ips=(FixedIp("sub-1", f"10.253.0.{host}"),),
        **extra,  # type: ignore[arg-type]
    )


async def host_port(rig: Rig, network: NetworkSpec, host: int) -> tuple[str, PortSpec]:
    ns = rig.hostnet.netns(f"h{host}")
    spec = port(network, host)
    binding = await rig.driver.plug_host_port(network, spec, ns)
    assert binding.peer_name and binding.tap_name
    return ns, spec


async def test_flat_network_carries_traffic_between_ports_and_out_the_uplink(rig: Rig) -> None:
    driver: NetworkDriver = rig.driver
    net = NetworkSpec(id="flat-1", name="flat", physical_network="physnet1", subnets=(SUBNET,))
    await driver.ensure_network(net)
    await driver.ensure_network(net)  # idempotent
    assert await driver.list_networks() == ["flat-1"]
    ns_a, a = await host_port(rig, net, 11)
    _ns_b, b = await host_port(rig, net, 12)
    assert ping(ns_a, "10.253.0.12")
    # the far end of the uplink is on the same L2 segment, untagged
    outside = rig.hostnet.netns("out")
    await off(HostLinks().move_to_namespace, rig.far, outside)
    far = HostLinks(outside)
    await off(far.add_address, rig.far, "10.253.0.200/24")
    await off(far.set_up, rig.far)
    assert ping(outside, "10.253.0.11")
    uplink_port = rig.ovs.vsctl("get", "port", rig.uplink, "vlan_mode").strip()
    assert uplink_port == "native-untagged"
    # the Neutron-style plumbing is visible to any OVS tool
    ids = rig.ovs.vsctl("get", "interface", rig.prefix + a.id.replace("-", "")[:8], "external_ids")
    for expected in (f'iface-id="{a.id}"', 'attached-mac="fa:16:3e:00:00:0b"', "vm-uuid=server-11"):
        assert expected in ids
    assert "iface-status=active" in ids
    owned = await driver.list_ports()
    assert sorted(p.port_id for p in owned) == sorted([a.id, b.id])
    assert {p.server_id for p in owned} == {"server-11", "server-12"}


async def test_vlan_networks_are_isolated_and_trunked_on_the_uplink(rig: Rig) -> None:
    blue = NetworkSpec(
        id="blue",
        name="blue",
        segment_type="vlan",
        vlan_id=100,
        physical_network="physnet1",
        subnets=(SUBNET,),
    )
    red = NetworkSpec(
        id="red",
        name="red",
        segment_type="vlan",
        vlan_id=200,
        physical_network="physnet1",
        subnets=(SUBNET,),
    )
    for net in (blue, red):
        await rig.driver.ensure_network(net)
    ns_b1, _ = await host_port(rig, blue, 21)
    _ns_b2, _ = await host_port(rig, blue, 22)
    ns_r, _ = await host_port(rig, red, 23)
    assert ping(ns_b1, "10.253.0.22")
    assert not ping(ns_r, "10.253.0.21", tries=2)  # same subnet, other VLAN: unreachable
    assert rig.ovs.vsctl("get", "port", rig.uplink, "trunks").strip() == "[100, 200]"
    # the far side of the uplink: a switch with an access port in VLAN 100
    ext = "at-x" + secrets.token_hex(3)
    rig.ovs.vsctl("add-br", ext, "--", "set", "bridge", ext, "datapath_type=netdev")
    rig.ovs.vsctl("add-port", ext, rig.far)
    ns_ext = rig.hostnet.netns("ext")
    inner, outer = rig.hostnet.veth(ns_ext, None)
    rig.ovs.vsctl("add-port", ext, outer, "tag=100")
    await off(HostLinks(ns_ext).add_address, inner, "10.253.0.201/24")
    assert ping(ns_ext, "10.253.0.21", tries=5)  # VLAN 100 crossed the uplink tagged
    assert not ping(ns_ext, "10.253.0.23", tries=2)  # VLAN 200 did not leak into it
    with pytest.raises(SegmentInUse, match="VLAN 100"):
        await rig.driver.ensure_network(
            NetworkSpec(
                id="green", name="g", segment_type="vlan", vlan_id=100, physical_network="physnet1"
            )
        )


async def test_anti_spoofing_drops_forged_ip_and_mac(rig: Rig) -> None:
    net = NetworkSpec(id="n", name="n", subnets=(SUBNET,))
    await rig.driver.ensure_network(net)
    ns_a, a = await host_port(rig, net, 31)
    _ns_b, _b = await host_port(rig, net, 32)
    assert ping(ns_a, "10.253.0.32")
    inner = HostLinks(ns_a)
    dev = (await off(inner.names, "at-"))[0]
    await off(inner.add_address, dev, "10.253.0.99/24")  # an address the port does not own
    ip("neigh", "flush", "all", netns=ns_a)
    assert not ping(ns_a, "10.253.0.32", source="10.253.0.99", tries=2)
    assert ping(ns_a, "10.253.0.32", source="10.253.0.31")
    await off(inner.set_mac, dev, "fa:16:3e:99:99:99")  # a MAC the port does not own
    ip("neigh", "flush", "all", netns=ns_a)
    assert not ping(ns_a, "10.253.0.32", tries=2)
    await off(inner.set_mac, dev, a.mac)
    assert ping(ns_a, "10.253.0.32")
    # the port's address changes (a port update): the rules follow in one bundle
    moved = dataclasses.replace(a, fixed_ips=(FixedIp("sub-1", "10.253.0.99"),))
    await rig.driver.plug_host_port(net, moved, ns_a)
    ip("neigh", "flush", "all", netns=ns_a)
    assert ping(ns_a, "10.253.0.32", source="10.253.0.99")
    assert not ping(ns_a, "10.253.0.32", source="10.253.0.31", tries=2)
    # the same forgery from a port without port security gets through: the rules did it
    ns_c = rig.hostnet.netns("free")
    free = dataclasses.replace(port(net, 33), port_security=False)
    await rig.driver.plug_host_port(net, free, ns_c)
    await off(
        HostLinks(ns_c).add_address, (await off(HostLinks(ns_c).names, "at-"))[0], "10.253.0.98/24"
    )
    assert ping(ns_c, "10.253.0.32", source="10.253.0.98")
    assert rig.driver.flows.port_flows(free.id) == []
    flows = rig.driver.flows.port_flows(a.id)
    assert any("actions=drop" in f for f in flows)
    assert any("nw_src=10.253.0.99" in f for f in flows)
    assert not any("10.253.0.31" in f for f in flows)


async def test_unplug_removes_port_flows_and_device_and_counters_move(rig: Rig) -> None:
    net = NetworkSpec(id="n", name="n", subnets=(SUBNET,))
    await rig.driver.ensure_network(net)
    ns_a, a = await host_port(rig, net, 41)
    _ns_b, b = await host_port(rig, net, 42)
    vm = port(net, 43)
    binding = await rig.driver.plug_port(net, vm)
    assert binding.tap_name and binding.vlan is not None
    details = ip("-d", "link", "show", binding.tap_name)
    assert "tun type tap" in details and "persist on" in details and "mtu 1500" in details
    ethtool = sh("ethtool", "-k", binding.tap_name)
    assert "tx-checksumming: off" in ethtool.stdout
    assert rig.ovs.vsctl("get", "port", binding.tap_name, "tag").strip() == str(binding.vlan)
    flood = sh("ip", "netns", "exec", ns_a, "ping", "-c", "20", "-i", "0.05", "10.253.0.42")
    assert flood.returncode == 0, flood.stdout

    deadline = time.monotonic() + 15
    while True:
        stats = {s.port_id: s for s in await rig.driver.port_stats()}
        if stats[a.id].rx_packets >= 20 and stats[b.id].tx_packets >= 20:
            break
        assert time.monotonic() < deadline, "OVS interface counters never counted the pings"
        await asyncio.sleep(0.5)
    assert stats[a.id].rx_bytes > 20 * 84
    for spec in (vm, a):
        await rig.driver.unplug_port(spec.id)
        await rig.driver.unplug_port(spec.id)  # idempotent
        dev = rig.prefix + spec.id.replace("-", "")[:8]
        assert dev not in rig.ovs.vsctl("list-ports", rig.driver.settings.integration_bridge)
        assert rig.driver.flows.port_flows(spec.id) == []
        assert not await off(HostLinks().exists, dev)
    assert await off(HostLinks(ns_a).names, "at-") == []  # the veth's inner end went with it
    assert [p.port_id for p in await rig.driver.list_ports()] == [b.id]


async def test_bad_requests_fail_clearly(rig: Rig) -> None:
    net = NetworkSpec(id="n", name="n", physical_network="physnet9")
    with pytest.raises(NetworkSpecInvalid, match="physnet9"):
        await rig.driver.ensure_network(net)
    ok = NetworkSpec(id="n2", name="n2")
    with pytest.raises(NetworkNotFound):
        await rig.driver.plug_port(ok, port(ok, 5))
    assert await rig.driver.list_ports() == []


async def test_direct_port_takes_a_vf_behind_the_same_seam(ovs: PrivateOVS, tmp_path: Path) -> None:
    """SR-IOV through OvsNetwork, on a sysfs-shaped tree (no SR-IOV hardware here)."""
    make_sysfs(tmp_path, "enp5s0f0", bus=5, vfs=2)
    setter = Recorder()
    settings = NetworkSettings(
        ovsdb_remote=ovs.remote,
        integration_bridge=f"at-i{secrets.token_hex(3)}",
        owner="test-sriov",
    )
    pool = SriovPool({"physnet2": "enp5s0f0"}, tmp_path, setter)
    driver = OvsNetwork(settings, sriov=pool)
    await start(driver)
    try:
        net = NetworkSpec(
            id="sr", name="sr", segment_type="vlan", vlan_id=300, physical_network="physnet2"
        )
        await driver.ensure_network(net)
        spec = PortSpec(
            id="vf-port",
            network_id="sr",
            mac="fa:16:3e:00:05:01",
            server_id="srv",
            vnic_type="direct",
        )
        binding = await driver.plug_port(net, spec)
        assert (binding.pci_address, binding.vlan, binding.tap_name) == ("0000:05:10.0", 300, None)
        assert setter.calls == [("enp5s0f0", 0, "fa:16:3e:00:05:01", 300)]
        assert [(p.port_id, p.device) for p in await driver.list_ports()] == [
            ("vf-port", "0000:05:10.0")
        ]
        await driver.unplug_port("vf-port")
        assert await driver.list_ports() == []
        assert setter.calls[-1] == ("enp5s0f0", 0, "00:00:00:00:00:00", 0)
    finally:
        await driver.close()


TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
TUNSETOFFLOAD, TUN_F_CSUM = 0x400454D0, 0x01


def open_tap(name: str) -> int:
    """Attach to a persistent tap the way QEMU does; returns the frame file descriptor."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def checksum(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, ident: int) -> bytes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"atoll" * 8
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(icmp),
        ident,
        0,
        64,
        1,
        0,
        socket.inet_aton(src_ip),
        socket.inet_aton(dst_ip),
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
    return eth + b"\x08\x00" + header + icmp


def echo_reply_seen(fd: int, ident: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        frame = os.read(fd, 2048)
        is_icmp = frame[12:14] == b"\x08\x00" and frame[23] == 1
        if is_icmp and frame[34] == 0 and struct.unpack("!H", frame[38:40])[0] == ident:
            return True
    return False


async def test_frames_from_a_vm_tap_reach_a_host_port_and_forgeries_do_not(rig: Rig) -> None:
    """The tap path a guest uses: QEMU's side of the tap is played by this test."""
    net = NetworkSpec(id="t", name="t", subnets=(SUBNET,))
    await rig.driver.ensure_network(net)
    ns_h, h = await host_port(rig, net, 51)
    peer = (await off(HostLinks(ns_h).names, "at-"))[0]
    vm = port(net, 52)
    binding = await rig.driver.plug_port(net, vm)
    assert binding.tap_name
    for forged_ip in ("10.253.0.52", "10.253.0.77"):  # let the host answer without ARP
        sh(
            "ip",
            "netns",
            "exec",
            ns_h,
            "ip",
            "neigh",
            "replace",
            forged_ip,
            "lladdr",
            vm.mac,
            "dev",
            peer,
        )
    fd = await off(open_tap, binding.tap_name)
    try:
        honest = echo_request(vm.mac, h.mac, "10.253.0.52", "10.253.0.51", 101)
        got = False
        for _ in range(5):  # the first frames may go while vswitchd notices the carrier
            os.write(fd, honest)
            if got := await off(echo_reply_seen, fd, 101, 1.0):
                break
        assert got, "the host port never answered the VM's echo request"
        os.write(fd, echo_request(vm.mac, h.mac, "10.253.0.77", "10.253.0.51", 102))
        assert not await off(echo_reply_seen, fd, 102, 1.5), "a forged source IP got through"
        os.write(fd, echo_request("fa:16:3e:77:77:77", h.mac, "10.253.0.52", "10.253.0.51", 103))
        assert not await off(echo_reply_seen, fd, 103, 1.5), "a forged source MAC got through"
    finally:
        os.close(fd)


async def test_sweep_removes_devices_a_crash_left_and_keeps_live_ones(rig: Rig) -> None:
    net = NetworkSpec(id="n", name="n", subnets=(SUBNET,))
    await rig.driver.ensure_network(net)
    live = port(net, 61)
    await rig.driver.plug_port(net, live)
    stranded, kept = str(uuid.uuid4()), str(uuid.uuid4())
    links = HostLinks()
    for pid in (stranded, kept):  # a tap made, then the agent died before attaching it
        await off(links.create_tap, device_name(pid, rig.prefix))
    gone = await rig.driver.sweep_devices(keep=[kept])
    assert gone == [device_name(stranded, rig.prefix)]
    assert await off(links.exists, device_name(kept, rig.prefix))
    assert await off(links.exists, device_name(live.id, rig.prefix))  # on OVS: not a stray
    assert await rig.driver.sweep_devices(keep=[]) == [device_name(kept, rig.prefix)]


def serve_http(ns: str, address: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "http.server", "--bind", address, "8080"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_tcp_crosses_the_netdev_bridge(rig: Rig) -> None:
    """TCP, not just ping: partial checksums would silently break it (TX offload is off)."""
    net = NetworkSpec(id="n", name="n", subnets=(SUBNET,))
    await rig.driver.ensure_network(net)
    ns_a, _ = await host_port(rig, net, 71)
    ns_b, _ = await host_port(rig, net, 72)
    server = serve_http(ns_b, "10.253.0.72")
    try:
        fetch = (
            "import urllib.request, time\n"
            "for _ in range(50):\n"
            "    try:\n"
            "        print(urllib.request.urlopen('http://10.253.0.72:8080/', timeout=2).status)\n"
            "        break\n"
            "    except OSError:\n"
            "        time.sleep(0.2)\n"
        )
        got = await off(sh, "ip", "netns", "exec", ns_a, sys.executable, "-c", fetch)
        assert got.stdout.strip() == "200", got.stderr
    finally:
        server.kill()
        server.wait()


async def test_changing_and_deleting_a_network_rewires_ports_and_uplink(rig: Rig) -> None:
    flat = NetworkSpec(id="m", name="m", physical_network="physnet1", subnets=(SUBNET,))
    await rig.driver.ensure_network(flat)
    binding = await rig.driver.plug_port(flat, port(flat, 81))
    assert binding.tap_name and binding.vlan == 4094  # flat: a local tag from the top
    vsctl = rig.ovs.vsctl
    assert vsctl("get", "port", rig.uplink, "tag").strip() == "4094"
    as_vlan = dataclasses.replace(flat, segment_type="vlan", vlan_id=300)
    await rig.driver.ensure_network(as_vlan)
    assert vsctl("get", "port", binding.tap_name, "tag").strip() == "300"
    assert vsctl("get", "port", rig.uplink, "vlan_mode").strip() == "trunk"
    assert vsctl("get", "port", rig.uplink, "trunks").strip() == "[300]"
    await rig.driver.delete_network("m")
    await rig.driver.delete_network("m")  # idempotent
    assert await rig.driver.list_networks() == []
    assert vsctl("get", "port", rig.uplink, "vlan_mode").strip() == "access"
    assert vsctl("get", "port", rig.uplink, "tag").strip() == "4095"  # the dead VLAN


async def test_a_failed_first_plug_leaves_nothing_behind(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = NetworkSpec(id="n", name="n", subnets=(SUBNET,))
    await rig.driver.ensure_network(net)

    def refuse(*_args: object) -> None:
        raise NetworkFailure("vswitchd refused the flows (injected)")

    monkeypatch.setattr(rig.driver.flows, "install_port", refuse)
    spec = port(net, 91)
    with pytest.raises(NetworkFailure, match="injected"):
        await rig.driver.plug_port(net, spec)
    dev = device_name(spec.id, rig.prefix)
    assert not await off(HostLinks().exists, dev)
    assert dev not in rig.ovs.vsctl("list-ports", rig.driver.settings.integration_bridge)
    assert await rig.driver.list_ports() == []


async def test_a_prepared_port_is_a_tap_down_on_no_bridge_until_it_is_plugged(rig: Rig) -> None:
    """``prepare_port`` makes the VM port's tap (TX checksum offload off) and returns the
    binding the plug will, but the tap stays down, on no bridge and without rules: nothing
    a guest started on it sends goes anywhere. The plug then attaches it, writes its rules
    and brings it up, leaving the tap's offloads to the guest that may be running on it
    (QEMU sets them as its virtio driver negotiates); preparing a plugged port again
    changes nothing."""
    net = NetworkSpec(id="n", name="n", subnets=(SUBNET,))
    await rig.driver.ensure_network(net)
    vm, links = port(net, 81), HostLinks()
    bridge = rig.driver.settings.integration_bridge
    prepared = await rig.driver.prepare_port(net, vm)
    assert prepared.tap_name == device_name(vm.id, rig.prefix)
    info = await off(links.info, prepared.tap_name)
    assert info["kind"] == "tun" and not info["up"]
    assert not await off(links.tx_checksum, prepared.tap_name)
    assert prepared.tap_name not in rig.ovs.vsctl("list-ports", bridge).split()
    assert rig.driver.flows.port_flows(vm.id) == [] and await rig.driver.list_ports() == []
    guest = open_tap(prepared.tap_name)  # a guest started on it whose virtio driver ...
    try:
        fcntl.ioctl(guest, TUNSETOFFLOAD, TUN_F_CSUM)  # ... took checksum offload, as QEMU does
        assert await off(links.tx_checksum, prepared.tap_name)
        assert await rig.driver.plug_port(net, vm) == prepared
        assert await off(links.tx_checksum, prepared.tap_name)  # the guest's, not the plug's
    finally:
        os.close(guest)
    assert (await off(links.info, prepared.tap_name))["up"]
    assert prepared.tap_name in rig.ovs.vsctl("list-ports", bridge).split()
    assert any("actions=drop" in f for f in rig.driver.flows.port_flows(vm.id))
    assert await rig.driver.prepare_port(net, vm) == prepared
    assert (await off(links.info, prepared.tap_name))["up"]
    assert [p.port_id for p in await rig.driver.list_ports()] == [vm.id]
    other = port(net, 82)  # prepared, never plugged: unplugging deletes its tap
    tap = (await rig.driver.prepare_port(net, other)).tap_name
    await rig.driver.unplug_port(other.id)
    assert tap and not await off(links.exists, tap)


async def test_rules_follow_the_openflow_port_vswitchd_gave_when_not_the_one_chosen(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rules are written for the number the driver chose ahead (``ofport_request``); if
    vswitchd numbers the port otherwise (the number was taken meanwhile), the rules are
    written again for the real number before the port comes up, and the port that held the
    number keeps its traffic."""
    net = NetworkSpec(id="n", name="n", subnets=(SUBNET,))
    await rig.driver.ensure_network(net)
    ns_a, a = await host_port(rig, net, 71)
    _ns_b, _b = await host_port(rig, net, 72)
    taken = int(rig.ovs.vsctl("get", "Interface", device_name(a.id, rig.prefix), "ofport"))
    monkeypatch.setattr(rig.driver._switch, "_choose_ofport", lambda _dev: taken)  # a race lost
    vm = port(net, 73)
    binding = await rig.driver.plug_port(net, vm)
    assert binding.tap_name
    given = int(rig.ovs.vsctl("get", "Interface", binding.tap_name, "ofport"))
    assert given != taken
    flows = rig.driver.flows.port_flows(vm.id)
    assert flows and all(f"in_port={given}" in f for f in flows), flows
    assert any("actions=drop" in f for f in flows)
    assert ping(ns_a, "10.253.0.72")
