"""Networks, subnets and ports: how a site's servers are wired."""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Literal

from atoll.errors import Problem
from atoll.resources.compute import VnicType
from atoll.resources.fields import bounded
from atoll.resources.model import Model, at

SegmentType = Literal["flat", "vlan"]
MAC = r"[0-9a-f]{2}(:[0-9a-f]{2}){5}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class NetworkSpec(Model):
    """A layer-2 segment: flat, or a VLAN on a physical network (or site-internal)."""

    WHAT = "network spec"
    segment_type: SegmentType = "flat"
    physical_network: str | None = bounded(None, low=1, high=64)
    vlan_id: int | None = bounded(None, low=1, high=4094)
    mtu: int = bounded(1500, low=68, high=9216)

    def problems(self, where: str) -> list[Problem]:
        if self.segment_type == "vlan" and self.vlan_id is None:
            return [Problem(at(where, "vlan_id"), "a vlan network needs a VLAN id")]
        if self.segment_type == "flat" and self.vlan_id is not None:
            return [Problem(at(where, "vlan_id"), "a flat network has no VLAN id")]
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class AllocationPool(Model):
    WHAT = "allocation pool"
    start: str
    end: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubnetSpec(Model):
    """Addresses on a network: a CIDR, a gateway, pools the site's IPAM hands out from."""

    WHAT = "subnet spec"
    network: str = bounded(low=1, high=64)
    cidr: str = bounded(low=1, high=64)
    gateway: str | None = None
    allocation_pools: tuple[AllocationPool, ...] = bounded((), high=16)
    dns_nameservers: tuple[str, ...] = bounded((), high=4)

    def problems(self, where: str) -> list[Problem]:
        pools = tuple((p.start, p.end) for p in self.allocation_pools)
        return subnet_problems(self.cidr, self.gateway, pools, self.dns_nameservers, where)


# What a subnet may be (Neutron refuses the same ranges; its subnet pools' default minimum
# prefix is /8 for IPv4). A site subnet is one L2 segment of unicast host addresses:
# - prefix length: IPv4 /8 to /30 (a gateway, a host, network and broadcast), IPv6 /64 (one
#   link, RFC 4291) to /126; shorter is a routed aggregate or the whole internet, longer
#   leaves no host beside the network address;
# - no address in the unspecified, loopback, link-local, multicast or reserved ranges below.
PREFIX_BOUNDS = {4: (8, 30), 6: (64, 126)}
REFUSED_RANGES: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(cidr), why)
    for cidr, why in (
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (including the broadcast address 255.255.255.255)"),
        ("::/8", "reserved (unspecified, loopback, IPv4-mapped)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local, deprecated (RFC 3879)"),
        ("ff00::/8", "multicast"),
    )
)


def cidr_problems(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[str]:
    """Why ``net`` cannot be a site subnet (empty when it can)."""
    low, high = PREFIX_BOUNDS[net.version]
    found = []
    if not low <= net.prefixlen <= high:
        found.append(f"prefix /{net.prefixlen} is outside /{low}../{high} for IPv{net.version}")
    for refused, why in REFUSED_RANGES:
        if refused.version == net.version and net.overlaps(refused):
            found.append(f"{net} reaches into {refused}, which is {why}")
    return found


def subnet_problems(
    cidr: str,
    gateway: str | None,
    pools: tuple[tuple[str, str], ...],
    dns_nameservers: tuple[str, ...],
    where: str,
) -> list[Problem]:
    """Everything wrong with a subnet on its own: the one place these rules live (the site's
    API, its IPAM and its network driver all ask here). Overlaps with the other subnets of
    the same network need the store, and are checked with the write."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        return [Problem(at(where, "cidr"), f"{cidr!r} is not a network address: {exc}")]
    found = [Problem(at(where, "cidr"), "; ".join(why)) for why in [cidr_problems(net)] if why]
    named = [("gateway", gateway)] if gateway else []
    for i, (start, end) in enumerate(pools):
        named += [(f"allocation_pools[{i}].start", start), (f"allocation_pools[{i}].end", end)]
    for key, text in named:
        problem = host_problem(net, text)
        if problem:
            found.append(Problem(at(where, key), problem))
    found += _pool_order_problems(pools, where)
    for i, dns in enumerate(dns_nameservers):
        try:
            ipaddress.ip_address(dns)
        except ValueError:
            found.append(
                Problem(at(where, f"dns_nameservers[{i}]"), f"{dns!r} is not an IP address")
            )
    return found


def host_problem(net: ipaddress.IPv4Network | ipaddress.IPv6Network, text: str) -> str | None:
    """Why ``text`` is not a host address of ``net`` (None when it is)."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return f"{text!r} is not an IP address"
    if addr not in net:
        return f"{text} is outside {net}"
    if addr == net.network_address:
        return f"{text} is the network address of {net}, not a host"
    if net.version == 4 and addr == net.broadcast_address:
        return f"{text} is the broadcast address of {net}, not a host"
    return None


def _pool_order_problems(pools: tuple[tuple[str, str], ...], where: str) -> list[Problem]:
    found: list[Problem] = []
    spans: list[tuple[int, int, int]] = []
    for i, (first, last) in enumerate(pools):
        try:
            start, end = int(ipaddress.ip_address(first)), int(ipaddress.ip_address(last))
        except ValueError:
            continue  # reported with the addresses
        if end < start:
            found.append(
                Problem(at(where, f"allocation_pools[{i}]"), f"ends ({last}) before it starts")
            )
            continue
        for j, other_start, other_end in spans:
            if start <= other_end and other_start <= end:
                found.append(
                    Problem(at(where, f"allocation_pools[{i}]"), f"overlaps allocation_pools[{j}]")
                )
        spans.append((i, start, end))
    return found


@dataclasses.dataclass(frozen=True, kw_only=True)
class PortSpec(Model):
    """A NIC's place on a network: its MAC and address, and the server it plugs into.

    The site makes ports when it accepts a server (one per NIC, ``index`` in NIC order) and
    leases ``ip`` from ``subnet`` through its IPAM.
    """

    WHAT = "port spec"
    network: str = bounded(low=1, high=64)
    server: str | None = bounded(None, high=64)  # the server id it belongs to
    index: int = bounded(0, low=0, high=16)
    mac: str | None = bounded(None, pattern=MAC, hint="must be a lowercase MAC address")
    subnet: str | None = bounded(None, high=64)
    ip: str | None = None
    vnic_type: VnicType = "normal"

    def problems(self, where: str) -> list[Problem]:
        if self.ip is None:
            return []
        try:
            ipaddress.ip_address(self.ip)
        except ValueError:
            return [Problem(at(where, "ip"), f"{self.ip!r} is not an IP address")]
        if self.subnet is None:
            return [Problem(at(where, "subnet"), "an address needs the subnet it is leased from")]
        return []
