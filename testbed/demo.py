"""The demo: the most complete end-to-end story the project can tell today.

Each act is a function that does something real and says what it did; ``run`` plays them in
order, cleans up after each one (even when an act fails) and ends with a summary. New
capabilities add acts here as they land.
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import etcd3gw
import libvirt

from atoll.testbed.services import libvirtd
from atoll.testbed.services.etcd import EtcdCluster
from atoll.testbed.services.netns import HostNetwork
from atoll.testbed.services.ovs import PrivateOVS

Say = Callable[[str], None]


@dataclass(frozen=True)
class Act:
    title: str
    play: Callable[[ExitStack, Path, Say], None]


def act_etcd(stack: ExitStack, work: Path, say: Say) -> None:
    cluster = EtcdCluster(work / "etcd", size=3).start()
    stack.callback(cluster.stop)
    say(f"started a 3-member etcd cluster at {cluster.url}")
    first, second, third = cluster.members
    etcd3gw.client(host="127.0.0.1", port=first.client_port).put("/atoll/demo", "hello")
    third.stop()
    value = etcd3gw.client(host="127.0.0.1", port=second.client_port).get("/atoll/demo")
    say(f"stopped member {third.name}; the other two still serve: /atoll/demo = {value[0]!r}")


def act_ovs(stack: ExitStack, work: Path, say: Say) -> None:
    ovs = PrivateOVS(Path("/tmp") / f"atoll-demo-ovs-{secrets.token_hex(3)}").start()
    stack.callback(ovs.stop)
    ovs.vsctl("add-br", "at-demo-int", "--", "set", "bridge", "at-demo-int", "datapath_type=netdev")
    ovs.vsctl("add-port", "at-demo-int", "at-demo-p0", "--", "set", "interface", "at-demo-p0",
              "type=internal")  # fmt: skip
    say("private ovsdb-server + ovs-vswitchd running; netdev bridge at-demo-int with an "
        f"internal port: ports = {ovs.vsctl('list-ports', 'at-demo-int').split()}")  # fmt: skip


def act_netns(stack: ExitStack, work: Path, say: Say) -> None:
    net = HostNetwork()
    stack.callback(net.close)
    a, b = net.netns("hub"), net.netns("site")
    end_a, end_b = net.veth(a, b)
    net.add_address(end_a, "10.251.9.1/30", netns=a)
    net.add_address(end_b, "10.251.9.2/30", netns=b)
    ping = subprocess.run(["ip", "netns", "exec", a, "ping", "-c", "1", "-W", "2", "10.251.9.2"],
                          capture_output=True, text=True)  # fmt: skip
    rtt = ping.stdout.split("time=")[1].split()[0] if ping.returncode == 0 else "unreachable"
    say(f"namespaces {a} and {b} joined by a veth pair: ping {rtt} ms")


def act_libvirt(stack: ExitStack, work: Path, say: Say) -> None:
    conn = libvirtd.connect()
    prefix = f"atoll-demo-{secrets.token_hex(3)}-"
    stack.callback(conn.close)
    stack.callback(libvirtd.remove_domains, conn, prefix)
    started = time.monotonic()
    dom = conn.createXML(libvirtd.tcg_domain_xml(prefix + "vm"), 0)
    state = "running" if dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING else str(dom.state())
    say(f"libvirt TCG domain {dom.name()} {state} after {time.monotonic() - started:.2f}s")


ACTS = [
    Act("etcd: a 3-member cluster that survives a member loss", act_etcd),
    Act("Open vSwitch: a private switch with the netdev datapath", act_ovs),
    Act("network namespaces: two hosts on one machine", act_netns),
    Act("libvirt: a real QEMU guest under TCG", act_libvirt),
]


def run(say: Say = print) -> int:
    """Play every act; returns the number of acts that failed."""
    failed = 0
    with tempfile.TemporaryDirectory(prefix="atoll-demo-") as tmp:
        for n, act in enumerate(ACTS, 1):
            say(f"\n[{n}/{len(ACTS)}] {act.title}")
            try:
                with ExitStack() as stack:
                    act.play(stack, Path(tmp), lambda line: say(f"  - {line}"))
                say("  ok (cleaned up)")
            except Exception as exc:
                failed += 1
                say(f"  FAILED: {type(exc).__name__}: {exc}")
    say(f"\n{len(ACTS) - failed} of {len(ACTS)} acts played; nothing left behind.")
    return failed
