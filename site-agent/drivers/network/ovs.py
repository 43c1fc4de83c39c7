"""``OvsNetwork``: the real :class:`~.base.NetworkDriver` — OVS through ovsdbapp.

The picture on one host::

    VM NIC ── tap at-<port> ──┐ tag = the network's local VLAN
    host port ── veth ────────┤ (+ anti-spoofing rules, see flows.py)
                              │
                  integration bridge (br-int, datapath_type=netdev)
                              │
    uplink eth1 (physnet1) ───┘ flat network: untagged (native-untagged),
                                VLAN networks: 802.1Q trunk of their VLAN ids

Every network has a local VLAN tag on the bridge: a VLAN network uses its VLAN id (so the
uplink trunk needs no translation); a flat network takes a free tag counted down from 4094.
The tags live in the bridge's ``external_ids`` (``atoll-net-<id>``), so a restarted agent
finds them again. An uplink with no network on it sits on the dead VLAN 4095 (drops).

Ports carry Neutron-style ``external_ids`` on their Interface (``iface-id`` = port id,
``attached-mac``, ``vm-uuid``, ``iface-status``) plus ``atoll-owner`` (our site), which is
how :meth:`OvsNetwork.list_ports` finds ours for the orphan audit.

A port's OpenFlow number is chosen before the port is added (the Interface's
``ofport_request``), so its anti-spoofing rules are written while the tap is made and
attached rather than after vswitchd has numbered it; the port comes up only once both are
done and the number vswitchd gave is the one the rules name (if vswitchd gave another, the
rules are written again for it before the port comes up). A VM port's device can be made
first (:meth:`OvsNetwork.prepare_port`: the tap, down and on no bridge), so that its guest
starts while the port is attached and given its rules; it comes up only after, as above.
A tap's TX checksum offload is turned off when the driver makes it; once its guest runs,
QEMU sets the tap's offloads as the guest negotiates them, and the plug leaves them be.

Blocking work (ovsdbapp transactions, pyroute2, ovs-ofctl) runs in worker threads through
``asyncio.to_thread``; :class:`_Switch` is that blocking half.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Collection, Mapping
from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ovsdbapp import exceptions as ovsdb_exc
from ovsdbapp.backend.ovs_idl import connection
from ovsdbapp.schema.open_vswitch import impl_idl

from atoll.site_agent.drivers.network.base import (
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
    NetworkFailure,
    NetworkNotFound,
    NetworkSpecInvalid,
    NetworkUnavailable,
    SegmentInUse,
)
from atoll.site_agent.drivers.network.flows import FlowTable
from atoll.site_agent.drivers.network.links import HostLinks
from atoll.site_agent.drivers.network.settings import NetworkSettings

if TYPE_CHECKING:  # SR-IOV is imported only by a site that configures it
    from atoll.site_agent.drivers.network.sriov import SriovPool

log = logging.getLogger(__name__)

NET_KEY = "atoll-net-"
OWNER_KEY = "atoll-owner"
DEAD_VLAN = 4095
OFPORT_MAX = 0xFEFF  # OpenFlow numbers above this are reserved (LOCAL is 0xFFFE)
STAT_KEYS = (
    *("rx_packets", "rx_bytes", "tx_packets", "tx_bytes"),
    *("rx_dropped", "tx_dropped", "rx_errors", "tx_errors"),
)


@dataclass(frozen=True)
class Segment:
    """What the bridge remembers about one network."""

    network_id: str
    segment_type: str
    tag: int
    physical_network: str | None

    def to_json(self) -> str:
        return json.dumps(
            {"type": self.segment_type, "tag": self.tag, "physnet": self.physical_network}
        )

    @classmethod
    def from_json(cls, network_id: str, text: str) -> Segment:
        data = json.loads(text)
        return cls(network_id, data["type"], int(data["tag"]), data.get("physnet"))


def _scalar(value: Any) -> Any:
    """An optional OVSDB column reads as ``[]`` or ``[x]`` (or ``x``); give ``None`` or ``x``."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _ofport(value: Any) -> int:
    """An ``ofport``/``ofport_request`` column as a usable OpenFlow port number, else 0."""
    number = _scalar(value)
    return number if isinstance(number, int) and 0 < number <= OFPORT_MAX else 0


class _Switch:
    """The blocking half: one OVSDB connection, host links, OpenFlow rules, SR-IOV VFs."""

    def __init__(self, settings: NetworkSettings, links: HostLinks, sriov: SriovPool | None):
        self.settings = settings
        self.bridge = settings.integration_bridge
        self.uplinks = settings.mappings("physical_networks")
        self.links = links
        self.sriov = sriov
        self.flows = FlowTable(self.bridge, settings.rundir(), settings.ovsdb_timeout)
        self.api: Any = None
        self._conn: Any = None
        self._lock = threading.Lock()  # serialises segment (tag) choices
        self._ofport_lock = threading.Lock()  # serialises OpenFlow port number choices
        self._ofports_chosen: set[int] = set()  # chosen, not yet requested in OVSDB
        self._rules = futures.ThreadPoolExecutor(2, thread_name_prefix="ovs-rules")

    # -- OVSDB plumbing -----------------------------------------------------------------

    def connect(self) -> None:
        if self.api is not None:
            return
        remote, timeout = self.settings.ovsdb_remote, self.settings.ovsdb_timeout
        try:
            idl = connection.OvsdbIdl.from_server(remote, "Open_vSwitch")
            self._conn = connection.Connection(idl=idl, timeout=timeout)
            # ovsdbapp keeps the connection on the *class* (first one wins, forever): give
            # each driver its own subclass so a second driver or a reconnect gets its own.
            api_class = type("AtollOvsdbIdl", (impl_idl.OvsdbIdl,), {"_ovsdb_connection": None})
            self.api = api_class(self._conn)
        except Exception as exc:  # ovsdbapp raises bare Exception when it cannot connect
            raise NetworkUnavailable(f"cannot connect to OVSDB at {remote}: {exc}", 5.0) from exc

    def close(self) -> None:
        self._rules.shutdown(wait=True)  # threads are made again on demand after a reconnect
        self._rules = futures.ThreadPoolExecutor(2, thread_name_prefix="ovs-rules")
        if self._conn is not None:
            self._conn.stop()
            self._conn = None
            self.api = None

    def execute(self, what: str, *commands: Any) -> None:
        try:
            with self.api.transaction(check_error=True) as txn:
                for command in commands:
                    txn.add(command)
        except ovsdb_exc.TimeoutException as exc:
            raise NetworkUnavailable(f"OVSDB did not {what} in time: {exc}", 2.0) from exc
        except Exception as exc:  # ovsdbapp re-raises whatever failed inside the txn
            raise NetworkFailure(f"OVSDB refused to {what}: {exc}") from exc

    def read(self, what: str, command: Any) -> Any:
        try:
            return command.execute(check_error=True)
        except ovsdb_exc.TimeoutException as exc:
            raise NetworkUnavailable(f"OVSDB did not {what} in time: {exc}", 2.0) from exc
        except Exception as exc:
            raise NetworkFailure(f"OVSDB cannot {what}: {exc}") from exc

    # -- bridge and segments ------------------------------------------------------------

    def ensure_bridge(self) -> None:
        api, owner = self.api, self.settings.owner
        self.execute(
            f"create bridge {self.bridge}",
            api.add_br(self.bridge, may_exist=True, datapath_type=self.settings.datapath_type),
            api.db_set("Bridge", self.bridge, ("external_ids", {OWNER_KEY: owner})),
            api.db_set("Bridge", self.bridge, ("protocols", ["OpenFlow10", "OpenFlow14"])),
        )
        self._wait_datapath()
        for physnet in self.uplinks:
            self.wire_uplink(physnet)

    def _wait_datapath(self) -> None:
        """The bridge row exists at once; vswitchd reports a datapath id once it really made
        the bridge. With the netdev datapath it cannot while another ovs-vswitchd on this
        host holds the shared ``ovs-netdev`` tap: then retrying later helps."""
        deadline = time.monotonic() + self.settings.ovsdb_timeout
        while not _scalar(
            self.read("read the bridge", self.api.db_get("Bridge", self.bridge, "datapath_id"))
        ):
            if time.monotonic() > deadline:
                raise NetworkUnavailable(
                    f"ovs-vswitchd has not created bridge {self.bridge} "
                    f"(datapath {self.settings.datapath_type}); see its log. With the netdev "
                    "datapath, another ovs-vswitchd on this host may hold the 'ovs-netdev' "
                    "device",
                    delay=5.0,
                )
            time.sleep(0.1)

    def segments(self) -> dict[str, Segment]:
        ids = self.read("read the bridge", self.api.db_get("Bridge", self.bridge, "external_ids"))
        return {
            key[len(NET_KEY) :]: Segment.from_json(key[len(NET_KEY) :], value)
            for key, value in ids.items()
            if key.startswith(NET_KEY)
        }

    def ensure_network(self, network: NetworkSpec) -> None:
        validate(network, self.physnets())
        with self._lock:
            current = self.segments()
            old = current.pop(network.id, None)
            segment = Segment(
                network.id,
                network.segment_type,
                self._tag(network, old, current),
                network.physical_network,
            )
            if segment != old:
                key = NET_KEY + network.id
                self.execute(
                    f"record network {network.id}",
                    self.api.db_set(
                        "Bridge", self.bridge, ("external_ids", {key: segment.to_json()})
                    ),
                )
                if old is not None and old.tag != segment.tag:
                    self._retag(network.id, segment.tag)
            for physnet in {segment.physical_network, old.physical_network if old else None}:
                if physnet in self.uplinks:  # an SR-IOV-only physnet has no uplink here
                    self.wire_uplink(physnet)

    def _tag(self, network: NetworkSpec, old: Segment | None, others: dict[str, Segment]) -> int:
        used = {s.tag: s.network_id for s in others.values()}
        if network.segment_type == "vlan":
            assert network.vlan_id is not None  # validate() checked it
            if network.vlan_id in used:
                raise SegmentInUse(
                    f"VLAN {network.vlan_id} of network {network.id} is already used on this "
                    f"site by network {used[network.vlan_id]}"
                )
            return network.vlan_id
        for s in others.values():
            if (
                s.segment_type == "flat"
                and network.physical_network
                and s.physical_network == network.physical_network
            ):
                raise SegmentInUse(
                    f"physical network {network.physical_network} already carries the flat "
                    f"network {s.network_id}; network {network.id} cannot be flat on it too"
                )
        if old is not None and old.segment_type == "flat" and old.tag not in used:
            return old.tag
        for tag in range(4094, 0, -1):
            if tag not in used:
                return tag
        raise SegmentInUse(f"no local VLAN tag is free for network {network.id}")

    def _retag(self, network_id: str, tag: int) -> None:
        rows = self.owned_interfaces()
        commands = [
            self.api.db_set("Port", row["name"], ("tag", tag))
            for row in rows
            if row["external_ids"].get("atoll-network-id") == network_id
        ]
        if commands:
            self.execute(f"retag the ports of network {network_id}", *commands)

    def delete_network(self, network_id: str) -> None:
        with self._lock:
            old = self.segments().get(network_id)
            if old is None:
                return
            self.execute(
                f"forget network {network_id}",
                self.api.db_remove("Bridge", self.bridge, "external_ids", NET_KEY + network_id),
            )
            if old.physical_network in self.uplinks:
                self.wire_uplink(old.physical_network)

    def wire_uplink(self, physnet: str) -> None:
        """Make the uplink of ``physnet`` carry exactly its networks' segments."""
        device = self.uplinks[physnet]
        if not self.links.exists(device):
            raise NetworkFailure(
                f"uplink {device} of physical network {physnet} does not exist on this host"
            )
        self.links.set_up(device)
        mine = [s for s in self.segments().values() if s.physical_network == physnet]
        flat = [s.tag for s in mine if s.segment_type == "flat"]
        vlans = sorted(s.tag for s in mine if s.segment_type == "vlan")
        if flat:
            mode, tag, trunks = "native-untagged", flat[0], [flat[0], *vlans]
        elif vlans:
            mode, tag, trunks = "trunk", None, vlans
        else:
            mode, tag, trunks = "access", DEAD_VLAN, []
        api = self.api
        commands = [
            api.add_port(self.bridge, device, may_exist=True),
            api.db_set("Port", device, ("vlan_mode", mode), ("trunks", trunks)),
            api.db_set(
                "Port",
                device,
                ("external_ids", {OWNER_KEY: self.settings.owner, "atoll-physnet": physnet}),
            ),
            api.db_set("Port", device, ("tag", tag))
            if tag is not None
            else api.db_clear("Port", device, "tag"),
        ]
        self.execute(f"wire uplink {device} of {physnet}", *commands)

    def physnets(self) -> set[str]:
        return set(self.uplinks) | (set(self.sriov.physnets) if self.sriov else set())

    # -- ports --------------------------------------------------------------------------

    def _segment(self, network: NetworkSpec, port: PortSpec) -> Segment:
        validate(network, self.physnets(), port)
        segment = self.segments().get(network.id)
        if segment is None:
            raise NetworkNotFound(f"network {network.id} was not ensured on this site")
        return segment

    def prepare(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        """A VM port's device before it is wired: the tap made (down, on no bridge) if it
        is not there yet; a direct port's VF allocated (that is all its plug does)."""
        segment = self._segment(network, port)
        if port.vnic_type == "direct":
            return self._plug_vf(network, port)
        dev = device_name(port.id, self.settings.device_prefix)
        with self.links.session():
            if not self.links.exists(dev):
                self.links.create_tap(dev, mtu=network.mtu)
                self.links.set_tx_checksum(dev, False)
        return PortBinding.on_tap(network, port, dev, segment.tag)

    def plug(
        self, network: NetworkSpec, port: PortSpec, netns: str | None, host: bool
    ) -> PortBinding:
        segment = self._segment(network, port)
        if port.vnic_type == "direct" and not host:
            return self._plug_vf(network, port)
        dev = device_name(port.id, self.settings.device_prefix)
        peer = dev[: IFNAME_MAX - 1] + "i" if host else None
        fresh = False
        try:
            with self.links.session():  # one netlink socket for all the link calls
                fresh = not self.links.exists(dev)
                self._plug_device(network, port, dev, peer, netns, segment.tag)
        except BaseException:
            if fresh:  # leave nothing half-made behind a first plug that failed
                with contextlib.suppress(Exception):
                    self.unplug(port.id)
            raise
        return PortBinding.on_tap(network, port, dev, segment.tag, peer)

    def _plug_device(
        self,
        network: NetworkSpec,
        port: PortSpec,
        dev: str,
        peer: str | None,
        netns: str | None,
        tag: int,
    ) -> None:
        """Make ``dev``, attach it and write its rules (at once, see the module docstring);
        bring it up only when both are done and the rules name its OpenFlow port."""
        ofport = self._choose_ofport(dev)
        addresses = [f.address for f in port.fixed_ips]
        if port.port_security:
            rules = self._rules.submit(
                self.flows.install_port, port.id, ofport, port.mac, addresses
            )
        else:
            rules = self._rules.submit(self.flows.remove_port, port.id)
        try:
            if peer is not None:
                self._make_host_veth(network, port, dev, peer, netns)
                self.links.set_tx_checksum(dev, False)
            elif not self.links.exists(dev):
                self.links.create_tap(dev, mtu=network.mtu)
                self.links.set_tx_checksum(dev, False)
            else:
                # prepared: offload was turned off then, and its guest may have started since;
                # QEMU now sets the tap's offloads as the guest's virtio driver negotiates them
                # (TUNSETOFFLOAD), and turning them off again races it (seen in CI on a heal:
                # "TX checksum offload ... cannot be turned off")
                self.links.set_mtu(dev, network.mtu)
            given = self._attach(dev, network, port, tag, "host" if peer else "vm", ofport)
        finally:
            with self._ofport_lock:
                self._ofports_chosen.discard(ofport)
            futures.wait([rules])  # never left running behind a failed plug
        rules.result()  # a failure to write the rules fails the plug
        if given != ofport and port.port_security:
            log.info(
                "port %s got OpenFlow port %d, not %d: rules rewritten", port.id, given, ofport
            )
            self.flows.install_port(port.id, given, port.mac, addresses)
        self.links.set_up(dev)  # only now, with its rules in place

    def _make_host_veth(
        self, network: NetworkSpec, port: PortSpec, dev: str, peer: str, netns: str | None
    ) -> None:
        self.links.create_veth(dev, peer, peer_namespace=netns, mtu=network.mtu)
        inner = HostLinks(netns)
        prefixes = {s.id: s.cidr.split("/")[1] for s in network.subnets}
        with inner.session():
            inner.set_tx_checksum(peer, False)
            inner.set_mac(peer, port.mac)
            for fip in port.fixed_ips:
                if fip.subnet_id in prefixes:
                    inner.add_address(peer, f"{fip.address}/{prefixes[fip.subnet_id]}")
            inner.set_up(peer)

    def _choose_ofport(self, dev: str) -> int:
        """The OpenFlow port number ``dev`` will have: the one it has if it is on the bridge
        already (a re-plug), else one above every number in use, requested or chosen."""
        with self._ofport_lock:
            rows = self.read(
                "read the OpenFlow port numbers",
                self.api.db_list("Interface", columns=["name", "ofport", "ofport_request"]),
            )
            used = set(self._ofports_chosen)
            for row in rows:
                has, asked = _ofport(row["ofport"]), _ofport(row["ofport_request"])
                if row["name"] == dev and (has or asked):
                    return has or asked
                used |= {has, asked} - {0}
            chosen = max(used, default=0) + 1
            if chosen > OFPORT_MAX:  # wrapped around: the lowest free one
                chosen = min(set(range(1, OFPORT_MAX + 1)) - used)
            self._ofports_chosen.add(chosen)
            return chosen

    def _attach(
        self, dev: str, network: NetworkSpec, port: PortSpec, tag: int, kind: str, ofport: int
    ) -> int:
        ids = {
            "iface-id": port.id,
            "attached-mac": port.mac,
            "iface-status": "active",
            OWNER_KEY: self.settings.owner,
            "atoll-network-id": network.id,
            "atoll-kind": kind,
        }
        if port.server_id:
            ids["vm-uuid"] = port.server_id
        api = self.api
        self.execute(
            f"attach port {port.id} as {dev}",
            api.add_port(self.bridge, dev, may_exist=True),
            api.db_set("Port", dev, ("tag", tag)),
            api.db_set(
                "Interface",
                dev,
                ("external_ids", ids),
                ("mtu_request", network.mtu),
                ("ofport_request", ofport),
            ),
        )
        return self._wait_ofport(dev, port.id)

    def _wait_ofport(self, dev: str, port_id: str) -> int:
        """vswitchd numbers the port when it has opened the device; that can lag the commit."""
        deadline = time.monotonic() + self.settings.ovsdb_timeout
        while True:
            row = self.read(
                f"read interface {dev}",
                self.api.db_list("Interface", [dev], columns=["ofport", "error"]),
            )[0]
            ofport, error = _scalar(row["ofport"]), _scalar(row["error"])
            if isinstance(ofport, int) and ofport > 0:
                return ofport
            if error or time.monotonic() > deadline:
                raise NetworkFailure(
                    f"OVS could not attach {dev} for port {port_id}: "
                    f"{error or 'no OpenFlow port number assigned'}"
                )
            time.sleep(0.05)

    def _plug_vf(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        if self.sriov is None or network.physical_network not in self.sriov.physnets:
            raise NetworkSpecInvalid(
                f"port {port.id} is direct (SR-IOV) but physical network "
                f"{network.physical_network} has no SR-IOV function on this site"
            )
        vf = self.sriov.allocate(
            port.id, network.physical_network, port.mac, network.vlan_id or 0, network.id
        )
        return PortBinding.on_vf(network, port, vf.pci_address)

    def unplug(self, port_id: str) -> None:
        if self.sriov is not None and self.sriov.release(port_id) is not None:
            return
        dev = device_name(port_id, self.settings.device_prefix)
        for row in self.owned_interfaces():
            if row["external_ids"].get("iface-id") == port_id:
                dev = row["name"]
        self.flows.remove_port(port_id)
        self.execute(f"detach port {port_id}", self.api.del_port(dev, if_exists=True))
        with self.links.session():
            self.links.delete(dev)

    def owned_interfaces(self) -> list[dict[str, Any]]:
        return list(
            self.read(
                "list our interfaces",
                self.api.db_find(
                    "Interface",
                    ("external_ids", "=", {OWNER_KEY: self.settings.owner}),
                    columns=["name", "external_ids", "statistics"],
                ),
            )
        )

    def list_ports(self) -> list[OwnedPort]:
        found = []
        for row in self.owned_interfaces():
            ids: Mapping[str, str] = row["external_ids"]
            if "iface-id" not in ids:
                continue
            found.append(
                OwnedPort(
                    port_id=ids["iface-id"],
                    network_id=ids.get("atoll-network-id", ""),
                    server_id=ids.get("vm-uuid"),
                    device=row["name"],
                    mac=ids.get("attached-mac", ""),
                )
            )
        if self.sriov is not None:
            found += self.sriov.owned_ports()
        return sorted(found, key=lambda p: p.port_id)

    def sweep_devices(self, keep: Collection[str]) -> list[str]:
        prefix = self.settings.device_prefix
        wanted = {device_name(port_id, prefix) for port_id in keep}
        on_ovs = {
            row["name"]
            for row in self.read("list interfaces", self.api.db_list("Interface", columns=["name"]))
        }
        gone = []
        with self.links.session():
            for name in self.links.names(prefix):
                if name in wanted or name in on_ovs or name == self.bridge:
                    continue
                if self.links.info(name)["kind"] in ("tun", "veth") and self.links.delete(name):
                    log.info("removed stray device %s", name)
                    gone.append(name)
        return gone

    def port_stats(self) -> list[OvsPortStats]:
        stats = []
        for row in self.owned_interfaces():
            port_id = row["external_ids"].get("iface-id")
            if port_id is None:
                continue
            counters: Mapping[str, int] = row["statistics"]
            known = {k: int(counters.get(k, 0)) for k in STAT_KEYS}
            extra = {k: int(v) for k, v in counters.items() if k not in STAT_KEYS}
            stats.append(OvsPortStats(port_id=port_id, device=row["name"], extra=extra, **known))
        return sorted(stats, key=lambda s: s.port_id)


class OvsNetwork:
    """The site's networking on Open vSwitch. See the module docstring for the wiring."""

    def __init__(
        self,
        settings: NetworkSettings,
        links: HostLinks | None = None,
        sriov: SriovPool | None = None,
    ) -> None:
        if sriov is None and settings.sriov_physical_networks:
            from atoll.site_agent.drivers.network.sriov import SriovPool  # only where configured

            sriov = SriovPool(settings.mappings("sriov_physical_networks"), settings.sysfs_root)
        self._switch = _Switch(settings, links or HostLinks(settings.datapath_namespace), sriov)
        self.settings = settings

    @property
    def flows(self) -> FlowTable:
        return self._switch.flows

    async def start(self) -> None:
        await asyncio.to_thread(self._switch.connect)
        await asyncio.to_thread(self._switch.ensure_bridge)
        log.info(
            "network driver connected to %s, bridge %s",
            self.settings.ovsdb_remote,
            self._switch.bridge,
        )

    async def close(self) -> None:
        await asyncio.to_thread(self._switch.close)

    async def ensure_network(self, network: NetworkSpec) -> None:
        await asyncio.to_thread(self._switch.ensure_network, network)

    async def delete_network(self, network_id: str) -> None:
        await asyncio.to_thread(self._switch.delete_network, network_id)

    async def list_networks(self) -> list[str]:
        return sorted(await asyncio.to_thread(self._switch.segments))

    async def prepare_port(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        return await asyncio.to_thread(self._switch.prepare, network, port)

    async def plug_port(self, network: NetworkSpec, port: PortSpec) -> PortBinding:
        return await asyncio.to_thread(self._switch.plug, network, port, None, False)

    async def plug_host_port(
        self, network: NetworkSpec, port: PortSpec, netns: str | None = None
    ) -> PortBinding:
        return await asyncio.to_thread(self._switch.plug, network, port, netns, True)

    async def unplug_port(self, port_id: str) -> None:
        await asyncio.to_thread(self._switch.unplug, port_id)

    async def list_ports(self) -> list[OwnedPort]:
        return await asyncio.to_thread(self._switch.list_ports)

    async def port_stats(self) -> list[OvsPortStats]:
        return await asyncio.to_thread(self._switch.port_stats)

    async def sweep_devices(self, keep: Collection[str]) -> list[str]:
        return await asyncio.to_thread(self._switch.sweep_devices, keep)
