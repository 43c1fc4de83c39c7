"""The agent's own IPAM: which address of a subnet belongs to which port. Pure logic.

Rules (the hypothesis tests in ``tests/site_agent/drivers/test_ipam.py`` hold them):

- An address is handed out to at most one owner (a port id) at a time.
- Automatic allocation takes the lowest free address of the allocation pools (all usable
  host addresses when the subnet has none).
- The gateway, and for IPv4 subnets larger than /31 the network and broadcast addresses,
  are never handed out, even when a pool includes them.
- A requested address may be anywhere in the subnet (inside a pool or not) unless reserved;
  asking again for an address the same owner already holds returns it (journal replay).
- Release is idempotent; a released address can be allocated again.
- Exhaustion raises :class:`~.errors.SubnetExhausted` naming the subnet.

State is a plain JSON-able dict (:meth:`Ipam.to_dict` / :meth:`Ipam.from_dict`) which the
agent core keeps in its SQLite store, in the same transaction as the port it belongs to.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from atoll.site_agent.drivers.network.base import AllocationPool, FixedIp, SubnetSpec
from atoll.site_agent.drivers.network.errors import (
    AddressInUse,
    AddressOutOfRange,
    NetworkSpecInvalid,
    SubnetExhausted,
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Range = tuple[int, int]  # inclusive


def _subtract(ranges: list[Range], point: int) -> list[Range]:
    out: list[Range] = []
    for start, end in ranges:
        if start <= point <= end:
            if start < point:
                out.append((start, point - 1))
            if point < end:
                out.append((point + 1, end))
        else:
            out.append((start, end))
    return out


def _merge(ranges: Iterable[Range]) -> list[Range]:
    out: list[Range] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


class SubnetIpam:
    """Allocations of one subnet. Not thread-safe; the agent core serialises access."""

    def __init__(self, subnet: SubnetSpec, allocations: Mapping[str, str] | None = None) -> None:
        problems = subnet.problems(f"subnet {subnet.id}")
        if problems:
            raise NetworkSpecInvalid(f"subnet {subnet.id} is not valid", problems)
        self.subnet = subnet
        self._net = ipaddress.ip_network(subnet.cidr)
        self._reserved = self._reserved_addresses()
        self._pools = self._pool_ranges()
        self._owner: dict[int, str] = {}
        self._sorted: list[int] = []
        for address, owner in (allocations or {}).items():
            self._take(self._parse(address), owner)

    # -- construction -------------------------------------------------------------------

    def _reserved_addresses(self) -> set[int]:
        net = self._net
        reserved = set()
        if self.subnet.gateway:
            reserved.add(int(ipaddress.ip_address(self.subnet.gateway)))
        if net.version == 4 and net.prefixlen < 31:
            reserved |= {int(net.network_address), int(net.broadcast_address)}
        elif net.version == 6 and net.prefixlen < 127:
            reserved.add(int(net.network_address))  # the subnet-router anycast address
        return reserved

    def _pool_ranges(self) -> list[Range]:
        pools = self.subnet.allocation_pools or (
            AllocationPool(str(self._net.network_address), str(self._net.broadcast_address)),
        )
        ranges = _merge(
            (int(ipaddress.ip_address(p.start)), int(ipaddress.ip_address(p.end))) for p in pools
        )
        for point in self._reserved:
            ranges = _subtract(ranges, point)
        return ranges

    # -- queries ------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """How many addresses the pools hold (reserved ones excluded)."""
        return sum(end - start + 1 for start, end in self._pools)

    @property
    def free_count(self) -> int:
        in_pools = sum(
            bisect.bisect_right(self._sorted, end) - bisect.bisect_left(self._sorted, start)
            for start, end in self._pools
        )
        return self.size - in_pools

    def owner_of(self, address: str) -> str | None:
        try:
            return self._owner.get(int(ipaddress.ip_address(address)))
        except ValueError:
            return None

    def allocations(self) -> dict[str, str]:
        """Address -> owner, in address order."""
        return {self._text(a): self._owner[a] for a in self._sorted}

    # -- changes ------------------------------------------------------------------------

    def allocate(self, owner: str, address: str | None = None) -> str:
        """Give ``owner`` the requested ``address`` or the lowest free one; return it."""
        if address is not None:
            point = self._parse(address)
            holder = self._owner.get(point)
            if holder == owner:
                return self._text(point)
            if holder is not None:
                raise AddressInUse(
                    f"address {address} of subnet {self.subnet.id} ({self.subnet.cidr}) "
                    f"is already allocated to {holder}"
                )
            self._take(point, owner)
            return self._text(point)
        point = self._lowest_free()
        self._take(point, owner)
        return self._text(point)

    def release(self, address: str) -> None:
        point = int(ipaddress.ip_address(address))
        if self._owner.pop(point, None) is not None:
            self._sorted.remove(point)

    def release_owner(self, owner: str) -> list[str]:
        """Release every address ``owner`` holds; return them."""
        mine = [a for a in self._sorted if self._owner[a] == owner]
        for point in mine:
            del self._owner[point]
            self._sorted.remove(point)
        return [self._text(a) for a in mine]

    # -- internals ----------------------------------------------------------------------

    def _parse(self, address: str) -> int:
        where = f"subnet {self.subnet.id} ({self.subnet.cidr})"
        try:
            addr = ipaddress.ip_address(address)
        except ValueError as exc:
            raise AddressOutOfRange(f"{address!r} is not an IP address (for {where})") from exc
        if addr not in self._net:
            raise AddressOutOfRange(f"address {address} is outside {where}")
        if int(addr) in self._reserved:
            raise AddressOutOfRange(
                f"address {address} is reserved in {where} (gateway, network or broadcast)"
            )
        return int(addr)

    def _take(self, point: int, owner: str) -> None:
        self._owner[point] = owner
        bisect.insort(self._sorted, point)

    def _lowest_free(self) -> int:
        for start, end in self._pools:
            candidate = start
            idx = bisect.bisect_left(self._sorted, start)
            while idx < len(self._sorted) and self._sorted[idx] == candidate:
                candidate += 1
                idx += 1
            if candidate <= end:
                return candidate
        raise SubnetExhausted(
            f"subnet {self.subnet.id} ({self.subnet.cidr}) has no free address: "
            f"all {self.size} addresses of its allocation pools are allocated"
        )

    def _text(self, point: int) -> str:
        if self._net.version == 4:
            return str(ipaddress.IPv4Address(point))
        return str(ipaddress.IPv6Address(point))

    # -- state --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        s = self.subnet
        return {
            "subnet": {
                "id": s.id,
                "cidr": s.cidr,
                "gateway": s.gateway,
                "allocation_pools": [[p.start, p.end] for p in s.allocation_pools],
                "dns_nameservers": list(s.dns_nameservers),
            },
            "allocations": self.allocations(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubnetIpam:
        s = data["subnet"]
        subnet = SubnetSpec(
            id=s["id"],
            cidr=s["cidr"],
            gateway=s.get("gateway"),
            allocation_pools=tuple(AllocationPool(a, b) for a, b in s.get("allocation_pools", [])),
            dns_nameservers=tuple(s.get("dns_nameservers", [])),
        )
        return cls(subnet, data.get("allocations", {}))


class Ipam:
    """Every subnet of the site. Port-level calls are all-or-nothing across subnets."""

    def __init__(self, subnets: Iterable[SubnetIpam] = ()) -> None:
        self._subnets = {s.subnet.id: s for s in subnets}

    def ensure_subnet(self, subnet: SubnetSpec) -> SubnetIpam:
        """Add a subnet, or update its spec keeping the allocations it has."""
        current = self._subnets.get(subnet.id)
        if current is not None and current.subnet == subnet:
            return current
        kept = current.allocations() if current else {}
        fresh = SubnetIpam(subnet)
        for address, owner in kept.items():
            fresh.allocate(owner, address)
        self._subnets[subnet.id] = fresh
        return fresh

    def drop_subnet(self, subnet_id: str) -> None:
        self._subnets.pop(subnet_id, None)

    def subnet(self, subnet_id: str) -> SubnetIpam:
        try:
            return self._subnets[subnet_id]
        except KeyError:
            raise AddressOutOfRange(f"subnet {subnet_id} is not known to the IPAM") from None

    def allocate_port(
        self,
        port_id: str,
        subnet_ids: Iterable[str],
        requested: Iterable[FixedIp] = (),
    ) -> tuple[FixedIp, ...]:
        """One address per subnet in ``subnet_ids`` (the requested one where given) plus any
        other requested ones; on any failure nothing stays allocated."""
        wanted = {fip.subnet_id: fip.address for fip in requested}
        order = list(dict.fromkeys([*subnet_ids, *wanted]))
        done: list[FixedIp] = []
        fresh: list[FixedIp] = []
        try:
            for subnet_id in order:
                subnet = self.subnet(subnet_id)
                asked = wanted.get(subnet_id)
                held = asked is not None and subnet.owner_of(asked) == port_id
                address = subnet.allocate(port_id, asked)
                done.append(FixedIp(subnet_id, address))
                if not held:
                    fresh.append(done[-1])
        except BaseException:
            for fip in fresh:
                self._subnets[fip.subnet_id].release(fip.address)
            raise
        return tuple(done)

    def release_port(self, port_id: str) -> list[FixedIp]:
        released: list[FixedIp] = []
        for subnet_id, subnet in self._subnets.items():
            released += [FixedIp(subnet_id, a) for a in subnet.release_owner(port_id)]
        return released

    def to_dict(self) -> dict[str, Any]:
        return {"version": 1, "subnets": [s.to_dict() for s in self._subnets.values()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ipam:
        return cls(SubnetIpam.from_dict(s) for s in data.get("subnets", []))
