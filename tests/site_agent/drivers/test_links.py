"""Host links through pyroute2, checked with the tools a person would use (ip, ethtool)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import pytest

from atoll.site_agent.drivers.network.errors import NetworkFailure, NetworkSpecInvalid
from atoll.site_agent.drivers.network.links import (
    HostLinks,
    create_netns,
    delete_netns,
    list_netns,
)
from atoll.testbed.services.netns import HostNetwork, ip

pytestmark = pytest.mark.integration


def name(label: str) -> str:
    return f"at-{label}{secrets.token_hex(3)}"


@pytest.fixture
def host() -> Iterator[tuple[HostLinks, list[str]]]:
    """Host links plus a list of names the test made, all deleted afterwards."""
    links, made = HostLinks(), list[str]()
    try:
        yield links, made
    finally:
        for link in made:
            links.delete(link)


def test_tap_is_persistent_root_owned_with_mtu_and_tx_checksum_off(
    host: tuple[HostLinks, list[str]],
) -> None:
    links, made = host
    tap = name("t")
    made.append(tap)
    links.create_tap(tap, mtu=1400)
    links.create_tap(tap, mtu=1400)  # idempotent
    details = ip("-d", "link", "show", tap)
    assert "tun type tap" in details and "persist on" in details and "pi off" in details
    assert "user root group root" in details
    assert "mtu 1400" in details
    links.set_tx_checksum(tap, False)
    shown = subprocess.run(["ethtool", "-k", tap], capture_output=True, text=True).stdout
    assert "tx-checksumming: off" in shown
    assert not links.tx_checksum(tap)
    links.set_up(tap)
    assert links.info(tap)["up"]
    assert links.delete(tap) and not links.exists(tap)
    assert not links.delete(tap)


def test_veth_into_namespace_with_addresses_and_vlan(
    hostnet: HostNetwork, host: tuple[HostLinks, list[str]]
) -> None:
    links, made = host
    ns = hostnet.netns("links")
    outer, inner = name("o"), name("i")
    made.append(outer)
    links.create_veth(outer, inner, peer_namespace=ns)
    inside = HostLinks(ns)
    assert inside.exists(inner) and not links.exists(inner)
    assert inside.tx_checksum(inner)  # veth default: on
    inside.set_tx_checksum(inner, False)
    shown = subprocess.run(
        ["ip", "netns", "exec", ns, "ethtool", "-k", inner], capture_output=True, text=True
    ).stdout
    assert "tx-checksumming: off" in shown
    inside.set_up(inner)
    inside.add_address(inner, "10.252.0.2/24")
    inside.add_address(inner, "10.252.0.2/24")  # idempotent
    assert inside.addresses(inner) == ["10.252.0.2/24"]
    links.set_up(outer)
    links.add_address(outer, "10.252.0.1/24")
    ping = subprocess.run(
        ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", "10.252.0.1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ping.returncode == 0, ping.stdout + ping.stderr


def test_bridge_and_enslave(host: tuple[HostLinks, list[str]]) -> None:
    links, made = host
    br, a, b = name("b"), name("a"), name("p")
    made += [a, br]
    links.create_bridge(br)
    links.create_veth(a, b)
    links.enslave(a, br)
    assert links.info(a)["master"] == links.index(br)
    assert links.info(br)["kind"] == "bridge"
    assert a in links.names("at-")


def test_namespaces_and_clear_errors() -> None:
    ns = f"atoll-lk-{secrets.token_hex(3)}"
    create_netns(ns)
    try:
        create_netns(ns)
        assert ns in list_netns()
        with pytest.raises(NetworkFailure, match=f"at-missing0 does not exist in namespace {ns}"):
            HostLinks(ns).set_up("at-missing0")
    finally:
        delete_netns(ns)
    assert ns not in list_netns()
    with pytest.raises(NetworkSpecInvalid):
        HostLinks().create_tap("a-name-that-is-far-too-long")


def kernel_has_8021q() -> bool:
    probe = name("q")
    made = subprocess.run(
        ["ip", "link", "add", "link", "lo", "name", probe, "type", "vlan", "id", "9"],
        capture_output=True,
    )  # fmt: skip
    subprocess.run(["ip", "link", "del", probe], capture_output=True)
    return made.returncode == 0


def test_vlan_subinterface(hostnet: HostNetwork) -> None:
    """A VLAN subinterface where the kernel has 8021q; where it has not (these machines: no
    modules), the failure is a NetworkFailure naming the link, not a netlink traceback."""
    ns = hostnet.netns("vlan")
    inner, _outer = hostnet.veth(ns, None)
    inside = HostLinks(ns)
    if not kernel_has_8021q():
        with pytest.raises(NetworkFailure, match=f"cannot create vlan {inner}.42 on {inner}"):
            inside.create_vlan(inner, 42)
        return
    vlan = inside.create_vlan(inner, 42)
    inside.set_up(vlan)
    inside.add_address(vlan, "10.252.42.2/24")
    assert "10.252.42.2/24" in inside.addresses(vlan)
    assert "vlan protocol 802.1Q id 42" in ip("-d", "link", "show", vlan, netns=ns)
