"""``FakeNetwork``: an in-memory :class:`~.base.NetworkDriver` for the layers above.

It documents the semantics the real driver (:class:`~.ovs.OvsNetwork`) keeps, and the agent
core's tests and simulated sites run against it:

- ``start`` must come first; every other call before it raises ``NetworkUnavailable``.
- ``ensure_network`` validates the spec (``NetworkSpecInvalid`` with every problem, e.g. an
  unknown physical network or a VLAN network without a VLAN id) and is idempotent; calling it
  again with a changed spec updates the segment.
- ``plug_port`` needs the network ensured (``NetworkNotFound`` otherwise) and a valid port
  spec. It is idempotent per port id: plugging again returns the same binding (a changed
  spec rewires the port). ``normal`` ports get the deterministic device name
  :func:`~.base.device_name` (``prefix`` + start of the port id); ``direct`` ports take a
  free VF of the network's physical network (``VfExhausted`` when none is left) and report
  its PCI address and the network's VLAN.
- ``prepare_port`` checks what ``plug_port`` checks and returns the binding it would, but
  wires nothing: the device is a stray one (as :meth:`FakeNetwork.strand` leaves) until
  ``plug_port`` wires it; a port already plugged is left as it is.
- ``plug_host_port`` is ``plug_port`` for a host-side veth whose inner end (``peer_name``)
  sits in ``netns``.
- ``unplug_port`` removes the port and frees its VF; an unknown id is a no-op.
- ``delete_network`` forgets the segment; an unknown id is a no-op. Ports are not unplugged.
- ``list_ports`` lists every port carrying this agent's owner tag, sorted by port id;
  ``port_stats`` gives their counters (all zero unless :meth:`FakeNetwork.count` moved them).
- ``sweep_devices(keep)`` removes stray devices (here: names added with
  :meth:`FakeNetwork.strand`, as a crash mid-plug would leave, or by ``prepare_port``) not
  belonging to ``keep``.

Test hooks: :meth:`FakeNetwork.fail` makes the next call(s) of a method raise an error (for
retry and crash-recovery tests); :meth:`FakeNetwork.count` adds traffic to a port.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

from atoll.errors import AtollError
from atoll.site_agent.drivers.network.base import (
    DEFAULT_DEVICE_PREFIX,
    IFNAME_MAX,
    NetworkSpec,
    OvsPortStats,
    OwnedPort,
    PortBinding,
    PortSpec,
    device_name,
    validate,
)
from atoll.site_agent.drivers.network.errors import (
    NetworkNotFound,
    NetworkUnavailable,
    VfExhausted,
)


class FakeNetwork:
    def __init__(
        self,
        physical_networks: Mapping[str, str] | None = None,
        sriov_vfs: Mapping[str, int] | None = None,
        device_prefix: str = DEFAULT_DEVICE_PREFIX,
    ) -> None:
        """``physical_networks``: physnet -> uplink interface; ``sriov_vfs``: physnet -> how
        many VFs its physical function offers."""
        self.physical_networks = dict(physical_networks or {})
        self.device_prefix = device_prefix
        self.networks: dict[str, NetworkSpec] = {}
        self.ports: dict[str, tuple[PortSpec, PortBinding, str | None]] = {}
        self.stats: dict[str, OvsPortStats] = {}
        self._vfs: dict[str, list[str | None]] = {
            physnet: [None] * count for physnet, count in (sriov_vfs or {}).items()
        }
        self._failures: dict[str, list[AtollError]] = {}
        self.started = False
        self.calls: list[str] = []
        self.stray: dict[str, str] = {}  # device name -> port id

    # -- test hooks ---------------------------------------------------------------------

    def fail(self, method: str, error: AtollError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` raise ``error`` (and change nothing)."""
        self._failures.setdefault(method, []).extend([error] * times)

    def count(self, port_id: str, packets: int = 1, size: int = 100) -> None:
        """Pretend ``packets`` went each way through ``port_id``."""
        s = self.stats[port_id]
        self.stats[port_id] = dataclasses.replace(
            s,
            rx_packets=s.rx_packets + packets,
            tx_packets=s.tx_packets + packets,
            rx_bytes=s.rx_bytes + packets * size,
            tx_bytes=s.tx_bytes + packets * size,
        )

    def strand(self, port_id: str) -> str:
        """Leave a device behind for ``port_id`` as a crash between tap and OVS would."""
        name = device_name(port_id, self.device_prefix)
        self.stray[name] = port_id
        return name

    def _enter(self, method: str) -> None:
        self.calls.append(method)
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)
        if not self.started and method != "start":
            raise NetworkUnavailable("the fake network driver was not started")

    # -- NetworkDriver ------------------------------------------------------------------

    async def start(self) -> None:
        self._enter("start")
        self.started = True

    async def close(self) -> None:
        self.started = False

    async def ensure_network(self, network: NetworkSpec) -> None:
        self._enter("ensure_network")
        validate(network, self.physical_networks)
        self.networks[network.id] = network

    async def delete_network(self, network_id: str) -> None:
        self._enter("delete_network")
        self.networks.pop(network_id, None)

    async def list_networks(self) -> list[str]:
        self._enter("list_networks")
        return sorted(self.networks)

    async def prepare_port(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        self._enter("prepare_port")
        self._check(network, port)
        if port.vnic_type == "direct":
            return self._plug(network, port, None)  # a VF is all a direct port's plug does
        binding = self._tap_binding(network, port, host=False)
        if port.id not in self.ports:
            self.stray[binding.tap_name or ""] = port.id  # made, not wired
        return binding

    async def plug_port(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        self._enter("plug_port")
        binding = self._plug(network, port, None)
        self.stray.pop(binding.tap_name or "", None)
        return binding

    async def plug_host_port(
        self, network: NetworkSpec, port: PortSpec, netns: str | None = None
    ) -> PortBinding:
        self._enter("plug_host_port")
        return self._plug(network, port, netns, host=True)

    def _plug(
        self, network: NetworkSpec, port: PortSpec, netns: str | None, host: bool = False
    ) -> PortBinding:
        self._check(network, port)
        previous = self.ports.get(port.id)
        if previous is not None and previous[0] == port and previous[2] == netns:
            return previous[1]
        if previous is not None:
            self._free_vf(port.id)
        if port.vnic_type == "direct" and not host:
            binding = self._plug_vf(network, port)
        else:
            binding = self._tap_binding(network, port, host)
        self.ports[port.id] = (port, binding, netns)
        self.stats.setdefault(
            port.id, OvsPortStats(port.id, binding.tap_name or binding.pci_address or "")
        )
        return binding

    def _check(self, network: NetworkSpec, port: PortSpec) -> None:
        validate(network, self.physical_networks, port)
        if network.id not in self.networks:
            raise NetworkNotFound(f"network {network.id} was not ensured on this site")

    def _tap_binding(self, network: NetworkSpec, port: PortSpec, host: bool) -> PortBinding:
        tap = device_name(port.id, self.device_prefix)
        peer = (tap[: IFNAME_MAX - 1] + "i") if host else None
        return PortBinding.on_tap(network, port, tap, network.vlan_id, peer)

    def _plug_vf(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        physnet = network.physical_network or ""
        vfs = self._vfs.get(physnet, [])
        for index, owner in enumerate(vfs):
            if owner is None:
                vfs[index] = port.id
                return PortBinding.on_vf(
                    network, port, f"0000:00:{16 + index // 8:02x}.{index % 8}"
                )
        raise VfExhausted(
            f"no free SR-IOV virtual function on physical network {physnet!r} "
            f"for port {port.id} ({len(vfs)} exist, all allocated)"
        )

    def _free_vf(self, port_id: str) -> None:
        for vfs in self._vfs.values():
            for index, owner in enumerate(vfs):
                if owner == port_id:
                    vfs[index] = None

    async def unplug_port(self, port_id: str) -> None:
        self._enter("unplug_port")
        self._free_vf(port_id)
        self.stray = {n: p for n, p in self.stray.items() if p != port_id}
        self.ports.pop(port_id, None)
        self.stats.pop(port_id, None)

    async def list_ports(self) -> list[OwnedPort]:
        self._enter("list_ports")
        return [
            OwnedPort(
                port_id=pid,
                network_id=binding.network_id,
                server_id=spec.server_id,
                device=binding.tap_name or binding.pci_address or "",
                mac=binding.mac,
                vnic_type=binding.vnic_type,
            )
            for pid, (spec, binding, _ns) in sorted(self.ports.items())
        ]

    async def port_stats(self) -> list[OvsPortStats]:
        self._enter("port_stats")
        return [self.stats[pid] for pid in sorted(self.stats)]

    async def sweep_devices(self, keep: Collection[str]) -> list[str]:
        self._enter("sweep_devices")
        gone = sorted(name for name, pid in self.stray.items() if pid not in keep)
        for name in gone:
            del self.stray[name]
        return gone
