"""Each harness fixture, used for real: proof that the private services work."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import etcd3gw
import libvirt
import pytest

from atoll.testbed.services import etcd, libvirtd
from atoll.testbed.services.etcd import EtcdCluster
from atoll.testbed.services.netns import HostNetwork, ip
from atoll.testbed.services.ovs import PrivateOVS
from atoll.testbed.services.ports import free_port

pytestmark = pytest.mark.integration


def test_etcd_member_put_get(etcd: EtcdCluster) -> None:
    host, port = etcd.endpoints[0]
    client = etcd3gw.client(host=host, port=port)
    client.put("/atoll/probe", "hello")
    assert client.get("/atoll/probe") == [b"hello"]


def test_etcd_cluster_survives_one_member_down(etcd_cluster: EtcdCluster) -> None:
    assert len(etcd_cluster.members) == 3
    first, second, third = etcd_cluster.members
    etcd3gw.client(host="127.0.0.1", port=first.client_port).put("k", "v1")
    third.stop()
    client = etcd3gw.client(host="127.0.0.1", port=second.client_port)
    client.put("k", "v2")  # 2 of 3 members are a quorum: writes still commit
    assert client.get("k") == [b"v2"]
    third.start(state="existing")
    third.wait_healthy()
    assert etcd3gw.client(host="127.0.0.1", port=third.client_port).get("k") == [b"v2"]


def test_an_etcd_port_taken_before_the_member_binds_it_starts_the_cluster_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process binds a port between free_port() and etcd's own bind (tests run side
    by side): the cluster starts again on other ports instead of failing."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        monkeypatch.setattr(etcd, "free_port", lambda: next(ports, None) or free_port())
        cluster = EtcdCluster(tmp_path / "etcd", size=1).start()
        try:
            host, port = cluster.endpoints[0]
            etcd3gw.client(host=host, port=port).put("k", "v")
        finally:
            cluster.stop()


def test_ovs_netdev_bridge_and_internal_port(ovs: PrivateOVS, ovsdb_api: Any) -> None:
    br = "at-br-test"
    with ovsdb_api.transaction(check_error=True) as txn:
        txn.add(ovsdb_api.add_br(br, datapath_type="netdev"))
        txn.add(ovsdb_api.add_port(br, "at-int0"))
        txn.add(ovsdb_api.db_set("Interface", "at-int0", ("type", "internal")))
    assert br in ovs.vsctl("list-br").split()
    assert "at-int0" in ovs.vsctl("list-ports", br).split()
    assert ovs.vsctl("get", "bridge", br, "datapath_type").strip() == "netdev"
    # vswitchd realised the internal port as a real (tap) device in the host
    deadline = time.monotonic() + 10
    while subprocess.run(["ip", "link", "show", "at-int0"], capture_output=True).returncode:
        assert time.monotonic() < deadline, "internal port never appeared as a host device"
        time.sleep(0.1)
    ovsdb_api.del_br(br).execute(check_error=True)
    assert br not in ovs.vsctl("list-br").split()


def test_tcg_domain_runs_and_is_destroyed(
    libvirt_conn: libvirt.virConnect, domain_prefix: str
) -> None:
    name = domain_prefix + "probe"
    dom = libvirt_conn.defineXML(libvirtd.tcg_domain_xml(name))
    assert "<domain type='qemu'" in dom.XMLDesc() or 'type="qemu"' in dom.XMLDesc()
    dom.create()
    state, _reason = dom.state()
    assert state == libvirt.VIR_DOMAIN_RUNNING
    dom.destroy()
    assert not dom.isActive()
    libvirtd.remove_domains(libvirt_conn, domain_prefix)
    assert name not in [d.name() for d in libvirt_conn.listAllDomains()]


def test_two_namespaces_reach_each_other(hostnet: HostNetwork) -> None:
    a, b = hostnet.netns("a"), hostnet.netns("b")
    end_a, end_b = hostnet.veth(a, b)
    hostnet.add_address(end_a, "10.251.0.1/30", netns=a)
    hostnet.add_address(end_b, "10.251.0.2/30", netns=b)
    ping = subprocess.run(
        ["ip", "netns", "exec", a, "ping", "-c", "1", "-W", "2", "10.251.0.2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert end_b not in ip("-o", "link", "show", netns=a)


def test_namespaces_through_a_linux_bridge(hostnet: HostNetwork) -> None:
    br = hostnet.bridge()
    nss = [hostnet.netns(f"n{i}") for i in range(2)]
    for i, ns in enumerate(nss):
        inner, outer = hostnet.veth(ns, None)
        hostnet.enslave(outer, br)
        hostnet.add_address(inner, f"10.251.1.{i + 1}/24", netns=ns)
    ping = subprocess.run(
        ["ip", "netns", "exec", nss[0], "ping", "-c", "1", "-W", "2", "10.251.1.2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ping.returncode == 0, ping.stdout + ping.stderr


def test_hostnet_close_removes_everything() -> None:
    net = HostNetwork()
    ns = net.netns("gone")
    a, _b = net.veth(ns, None)
    net.close()
    assert ns not in ip("netns", "list")
    assert a not in ip("-o", "link", "show")
