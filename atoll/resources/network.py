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
        try:
            net = ipaddress.ip_network(self.cidr, strict=True)
        except ValueError as exc:
            return [Problem(at(where, "cidr"), f"{self.cidr!r} is not a network ({exc})")]
        out: list[Problem] = []
        if self.gateway is not None:
            out += _inside(net, self.gateway, at(where, "gateway"))
        for i, pool in enumerate(self.allocation_pools):
            here = at(where, f"allocation_pools[{i}]")
            out += _inside(net, pool.start, f"{here}.start")
            out += _inside(net, pool.end, f"{here}.end")
        for i, server in enumerate(self.dns_nameservers):
            try:
                ipaddress.ip_address(server)
            except ValueError:
                out.append(Problem(at(where, f"dns_nameservers[{i}]"), "is not an IP address"))
        return out


def _inside(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network, address: str, where: str
) -> list[Problem]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return [Problem(where, f"{address!r} is not an IP address")]
    if ip not in net:
        return [Problem(where, f"{address} is not in {net}")]
    return []


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
