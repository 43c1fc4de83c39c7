"""The ``NetworkDriver`` seam and the frozen value types that cross it.

The agent core calls a :class:`NetworkDriver`; the real one is
:class:`~atoll.site_agent.drivers.network.ovs.OvsNetwork` (OVS through ovsdbapp, taps and
links through pyroute2, SR-IOV VFs through sysfs + pyroute2) and the in-memory one is
:class:`~atoll.site_agent.drivers.network.fake.FakeNetwork`, whose docstring spells out the
contract both keep.

Addresses are not chosen here: the core allocates them with
:mod:`atoll.site_agent.drivers.network.ipam` (pure logic, state it persists) and hands the
result in as ``PortSpec.fixed_ips``; the driver uses them for the anti-spoofing rules. The
compute driver takes :class:`PortBinding` (tap name or VF PCI address, MAC, VLAN) from the
core; drivers never import each other.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal, Protocol

from atoll.errors import Problem
from atoll.resources.network import subnet_problems
from atoll.site_agent.drivers.network.errors import NetworkSpecInvalid

SegmentType = Literal["flat", "vlan"]
VnicType = Literal["normal", "direct"]

# Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
IFNAME_MAX = 15
DEFAULT_DEVICE_PREFIX = "at-"
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def device_name(port_id: str, prefix: str = DEFAULT_DEVICE_PREFIX) -> str:
    """The host device name of a port: ``prefix`` + the start of the port id, 15 bytes max.

    Deterministic, so an agent restarted after a crash finds the tap it made before (Neutron
    does the same with ``tap`` + ``port_id[:11]``). Hyphens are dropped to keep more of the id.
    """
    return (prefix + port_id.replace("-", ""))[:IFNAME_MAX]


@dataclass(frozen=True)
class AllocationPool:
    """An inclusive range of addresses the IPAM may hand out."""

    start: str
    end: str


@dataclass(frozen=True)
class SubnetSpec:
    id: str
    cidr: str
    gateway: str | None = None
    allocation_pools: tuple[AllocationPool, ...] = ()  # empty: every usable host address
    dns_nameservers: tuple[str, ...] = ()

    def problems(self, where: str) -> list[Problem]:
        """Everything wrong with this subnet on its own (the rules of the typed model,
        :func:`atoll.resources.network.subnet_problems`; overlaps with other subnets of its
        network are the agent core's check, made with the write)."""
        pools = tuple((p.start, p.end) for p in self.allocation_pools)
        return subnet_problems(self.cidr, self.gateway, pools, self.dns_nameservers, where)


@dataclass(frozen=True)
class NetworkSpec:
    """A site network: one L2 segment, flat (untagged) or VLAN, with its subnets.

    ``physical_network`` names an uplink in the driver's settings (``physnet1:eth1``); a flat
    network without one is local to the host (ports reach each other, nothing else). A VLAN
    network always needs one.
    """

    id: str
    name: str
    segment_type: SegmentType = "flat"
    physical_network: str | None = None
    vlan_id: int | None = None
    subnets: tuple[SubnetSpec, ...] = ()
    mtu: int = 1500

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if not self.id:
            found.append(Problem("network.id", "must not be empty"))
        if self.segment_type not in ("flat", "vlan"):
            found.append(Problem("network.segment_type", "must be flat or vlan"))
        if self.segment_type == "vlan":
            if self.vlan_id is None or not 1 <= self.vlan_id <= 4094:
                found.append(Problem("network.vlan_id", "a vlan network needs 1..4094"))
            if not self.physical_network:
                found.append(Problem("network.physical_network", "a vlan network needs one"))
        elif self.vlan_id is not None:
            found.append(Problem("network.vlan_id", "a flat network takes no vlan id"))
        if not 68 <= self.mtu <= 65535:
            found.append(Problem("network.mtu", f"{self.mtu} is outside 68..65535"))
        for i, subnet in enumerate(self.subnets):
            found.extend(subnet.problems(f"network.subnets[{i}]"))
        return found


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    address: str


@dataclass(frozen=True)
class PortSpec:
    """One VM NIC (or host-side port) on a network.

    ``vnic_type`` ``normal`` is a tap on the OVS integration bridge; ``direct`` is an SR-IOV
    VF. With ``port_security`` the port may only send from its own MAC and ``fixed_ips``.
    """

    id: str
    network_id: str
    mac: str
    server_id: str | None = None
    fixed_ips: tuple[FixedIp, ...] = ()
    vnic_type: VnicType = "normal"
    port_security: bool = True

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if not self.id:
            found.append(Problem("port.id", "must not be empty"))
        if not _MAC.match(self.mac):
            found.append(Problem("port.mac", f"{self.mac!r} is not a lowercase MAC address"))
        elif int(self.mac.split(":")[0], 16) & 1:
            found.append(Problem("port.mac", f"{self.mac} is a multicast address"))
        if self.vnic_type not in ("normal", "direct"):
            found.append(Problem("port.vnic_type", "must be normal or direct"))
        for i, fip in enumerate(self.fixed_ips):
            try:
                ipaddress.ip_address(fip.address)
            except ValueError:
                found.append(
                    Problem(f"port.fixed_ips[{i}].address", f"{fip.address!r} is not an IP")
                )
        return found


@dataclass(frozen=True)
class PortBinding:
    """Where a plugged port lives, which the compute driver turns into a libvirt interface.

    ``normal``: ``tap_name`` (``<interface type='ethernet'><target dev=tap_name/>``);
    ``direct``: ``pci_address`` of the VF (``<interface type='hostdev'>``), ``vlan`` set on it.
    """

    port_id: str
    network_id: str
    vnic_type: VnicType
    mac: str
    mtu: int
    vlan: int | None = None
    tap_name: str | None = None
    pci_address: str | None = None
    peer_name: str | None = None  # host ports: the inner veth end (in ``netns`` if given)

    @classmethod
    def on_tap(
        cls,
        network: NetworkSpec,
        port: PortSpec,
        tap_name: str,
        vlan: int | None,
        peer_name: str | None = None,
    ) -> PortBinding:
        """A ``normal`` port on ``tap_name`` (tagged ``vlan`` on the switch)."""
        return cls(port.id, network.id, "normal", port.mac, network.mtu, vlan,
                   tap_name=tap_name, peer_name=peer_name)  # fmt: skip

    @classmethod
    def on_vf(cls, network: NetworkSpec, port: PortSpec, pci_address: str) -> PortBinding:
        """A ``direct`` port on the VF at ``pci_address`` (the network's VLAN set on it)."""
        return cls(port.id, network.id, "direct", port.mac, network.mtu, network.vlan_id,
                   pci_address=pci_address)  # fmt: skip


@dataclass(frozen=True)
class OwnedPort:
    """A port found on the host carrying our owner tag (for the agent's orphan audit)."""

    port_id: str
    network_id: str
    server_id: str | None
    device: str  # tap/host device name, or VF PCI address
    mac: str
    vnic_type: VnicType = "normal"


@dataclass(frozen=True)
class OvsPortStats:
    """Counters of one port, as seen by OVS (``rx`` = received from the VM by the switch)."""

    port_id: str
    device: str
    rx_packets: int = 0
    rx_bytes: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    extra: dict[str, int] = field(default_factory=dict, compare=False)


def validate(
    network: NetworkSpec, physical_networks: Collection[str], port: PortSpec | None = None
) -> None:
    """Raise :class:`~.errors.NetworkSpecInvalid` listing every problem of the specs."""
    found = network.problems()
    if network.physical_network and network.physical_network not in physical_networks:
        known = ", ".join(sorted(physical_networks)) or "none configured"
        found.append(
            Problem(
                "network.physical_network",
                f"{network.physical_network!r} is not a physical network of this site "
                f"(known: {known})",
            )
        )
    if port is not None:
        found += port.problems()
        if port.network_id != network.id:
            found.append(
                Problem("port.network_id", f"{port.network_id} is not network {network.id}")
            )
    if found:
        what = f"port {port.id}" if port is not None else f"network {network.id}"
        raise NetworkSpecInvalid(f"{what} cannot be wired", found)


class NetworkDriver(Protocol):
    """What the agent core needs from a site's networking. Every method is a coroutine.

    Idempotent by design, because the reconciler retries and replays its journal after a
    crash: ensuring an existing network, plugging a plugged port (same spec) and unplugging
    or deleting something already gone all succeed and change nothing.
    """

    async def start(self) -> None:
        """Connect and make the integration bridge and uplinks exist."""
        ...

    async def close(self) -> None: ...

    async def ensure_network(self, network: NetworkSpec) -> None:
        """Make the segment exist (uplink wiring, local VLAN tag). Raises
        :class:`~.errors.NetworkSpecInvalid` for a bad spec or unknown physical network."""
        ...

    async def delete_network(self, network_id: str) -> None:
        """Remove the segment. Ports still on it are left alone (unplug them first)."""
        ...

    async def list_networks(self) -> list[str]:
        """Ids of the networks ensured and not deleted."""
        ...

    async def prepare_port(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        """Create the port's device, not wired yet, and say where it lives (the binding
        :meth:`plug_port` returns): a tap that is down and on no switch, so a guest may be
        defined and started on it while nothing it sends goes anywhere; a ``direct`` port's
        VF. Same checks as :meth:`plug_port`; an existing device is left as it is."""
        ...

    async def plug_port(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        """Create the port's device (if :meth:`prepare_port` did not), attach it with its
        VLAN and anti-spoofing rules, and only then bring it up."""
        ...

    async def plug_host_port(
        self, network: NetworkSpec, port: PortSpec, netns: str | None = None
    ) -> PortBinding:
        """A host-side port on the network: a veth pair, the outer end on the switch, the inner
        end (``PortBinding.peer_name``) moved into ``netns`` if given, up, with the port's
        fixed IPs. For metadata, tests or a field engineer's probe; same plumbing and rules
        as a VM port."""
        ...

    async def unplug_port(self, port_id: str) -> None:
        """Remove the port from the switch, its rules and its device. Unknown id: no-op."""
        ...

    async def list_ports(self) -> list[OwnedPort]:
        """Every port on the host carrying this agent's owner tag."""
        ...

    async def port_stats(self) -> list[OvsPortStats]:
        """Counters of every port we own, for telemetry."""
        ...

    async def sweep_devices(self, keep: Collection[str]) -> list[str]:
        """Delete host taps/veths named under the device prefix that are on no OVS bridge and
        belong to no port id in ``keep`` (what a crash between "make the tap" and "attach it"
        leaves); returns their names. Every agent on a host needs its own prefix."""
        ...
