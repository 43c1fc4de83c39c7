"""SR-IOV: discover physical functions (PFs) and their virtual functions (VFs) from sysfs,
hand one VF to each ``direct`` port, and set the VF's MAC and VLAN on the PF through pyroute2
(``ip link set PF vf N mac M vlan V``). The compute driver attaches the VF by its PCI address
as a libvirt ``<interface type='hostdev'>``.

**Not verified on hardware.** These machines have no SR-IOV NIC. The discovery, allocation
and configuration logic is tested against a sysfs-shaped tree in a temporary directory with
an injected :class:`VfSetter`; the pyroute2 setter (:class:`NetlinkVfSetter`) follows
pyroute2's documented ``vf=`` API but has never programmed a real VF here.

The sysfs layout read (``root`` defaults to ``/sys``)::

    <root>/class/net/<pf>/device            -> ../../../devices/pci0000:00/0000:03:00.0
    <root>/class/net/<pf>/device/sriov_totalvfs, sriov_numvfs
    <root>/class/net/<pf>/device/virtfn<N>  -> ../0000:03:10.<n>   (the VF's PCI device)
    <root>/class/net/<pf>/device/virtfn<N>/net/<vf ifname>         (if a net driver is bound)

Allocations (port id -> VF PCI address) are in memory; :meth:`SriovPool.to_dict` gives them
in a JSON-able form for the agent core to persist; pass it back as ``allocations``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from atoll.site_agent.drivers.network.base import OwnedPort
from atoll.site_agent.drivers.network.errors import (
    NetworkFailure,
    NetworkSpecInvalid,
    VfExhausted,
)
from atoll.site_agent.drivers.network.netlink import IPRoute, NetlinkError

log = logging.getLogger(__name__)

_VIRTFN = re.compile(r"^virtfn(\d+)$")
CLEAR_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True)
class VirtualFunction:
    pf: str
    index: int
    pci_address: str
    ifname: str | None = None


@dataclass(frozen=True)
class PhysicalFunction:
    name: str
    pci_address: str
    total_vfs: int
    num_vfs: int
    vfs: tuple[VirtualFunction, ...]


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def discover(root: Path = Path("/sys")) -> list[PhysicalFunction]:
    """Every network interface under ``root`` that has SR-IOV VFs enabled, with its VFs."""
    net = root / "class" / "net"
    found: list[PhysicalFunction] = []
    if not net.is_dir():
        return found
    for iface in sorted(net.iterdir()):
        device = iface / "device"
        total = _read_int(device / "sriov_totalvfs")
        if total <= 0:
            continue
        vfs = []
        for link in device.iterdir():
            match = _VIRTFN.match(link.name)
            if not match:
                continue
            netdir = link / "net"
            names = sorted(p.name for p in netdir.iterdir()) if netdir.is_dir() else []
            vfs.append(
                VirtualFunction(
                    pf=iface.name,
                    index=int(match.group(1)),
                    pci_address=link.resolve().name,
                    ifname=names[0] if names else None,
                )
            )
        found.append(
            PhysicalFunction(
                name=iface.name,
                pci_address=device.resolve().name,
                total_vfs=total,
                num_vfs=_read_int(device / "sriov_numvfs"),
                vfs=tuple(sorted(vfs, key=lambda v: v.index)),
            )
        )
    return found


class VfSetter(Protocol):
    """Programs one VF on its PF: ``ip link set PF vf INDEX mac MAC vlan VLAN``."""

    def set_vf(self, pf: str, index: int, mac: str, vlan: int) -> None: ...


class NetlinkVfSetter:
    """The real :class:`VfSetter`, through pyroute2 (not verified on hardware, see above)."""

    def set_vf(self, pf: str, index: int, mac: str, vlan: int) -> None:
        try:
            with IPRoute() as ipr:
                found = ipr.link_lookup(ifname=pf)
                if not found:
                    raise NetworkFailure(f"SR-IOV physical function {pf} does not exist")
                ipr.link("set", index=found[0], vf={"vf": index, "mac": mac, "vlan": vlan})
        except NetlinkError as exc:
            raise NetworkFailure(
                f"cannot set VF {index} of {pf} to mac {mac} vlan {vlan}: {exc.args[-1]}"
            ) from exc


class SriovPool:
    """The VFs of the PFs mapped to physical networks, and which port holds which."""

    def __init__(
        self,
        physnets: Mapping[str, str],
        root: Path = Path("/sys"),
        setter: VfSetter | None = None,
        allocations: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """``physnets``: physical network -> PF interface name."""
        self.physnets = dict(physnets)
        self.root = root
        self.setter: VfSetter = setter or NetlinkVfSetter()
        self._lock = threading.Lock()
        self._held: dict[str, tuple[VirtualFunction, str, str]] = {}  # port -> vf, mac, net
        by_pci = {vf.pci_address: vf for pf in discover(root) for vf in pf.vfs}
        for port_id, held in (allocations or {}).items():
            vf = by_pci.get(held["pci_address"])
            if vf is not None:
                self._held[port_id] = (vf, held["mac"], held.get("network_id", ""))

    def functions(self, physnet: str) -> list[VirtualFunction]:
        pf_name = self.physnets.get(physnet)
        if pf_name is None:
            raise NetworkSpecInvalid(f"physical network {physnet} has no SR-IOV function here")
        for pf in discover(self.root):
            if pf.name == pf_name:
                return list(pf.vfs)
        raise NetworkFailure(
            f"SR-IOV physical function {pf_name} of {physnet} is missing under "
            f"{self.root}/class/net or has no VFs enabled (sriov_numvfs)"
        )

    def allocate(
        self, port_id: str, physnet: str | None, mac: str, vlan: int, network_id: str = ""
    ) -> VirtualFunction:
        """Give ``port_id`` a free VF of ``physnet`` (the one it holds, if any) and program
        its MAC and VLAN. Raises :class:`~.errors.VfExhausted` when none is free."""
        if physnet is None:
            raise NetworkSpecInvalid(f"port {port_id}: an SR-IOV port needs a physical network")
        with self._lock:
            held = self._held.get(port_id)
            if held is not None:
                vf = held[0]
            else:
                taken = {h[0].pci_address for h in self._held.values()}
                vfs = self.functions(physnet)
                free = [v for v in vfs if v.pci_address not in taken]
                if not free:
                    raise VfExhausted(
                        f"no free SR-IOV virtual function on physical network {physnet} "
                        f"(PF {self.physnets[physnet]}: {len(vfs)} VFs, all allocated) "
                        f"for port {port_id}"
                    )
                vf = free[0]
            self.setter.set_vf(vf.pf, vf.index, mac, vlan)
            self._held[port_id] = (vf, mac, network_id)
            log.info("port %s holds VF %d of %s (%s)", port_id, vf.index, vf.pf, vf.pci_address)
            return vf

    def release(self, port_id: str) -> VirtualFunction | None:
        """Free the port's VF, clearing its MAC and VLAN; ``None`` if it held none."""
        with self._lock:
            held = self._held.pop(port_id, None)
            if held is None:
                return None
            vf = held[0]
            self.setter.set_vf(vf.pf, vf.index, CLEAR_MAC, 0)
            return vf

    def owned_ports(self) -> list[OwnedPort]:
        with self._lock:
            return [
                OwnedPort(
                    port_id=port_id,
                    network_id=net,
                    server_id=None,
                    device=vf.pci_address,
                    mac=mac,
                    vnic_type="direct",
                )
                for port_id, (vf, mac, net) in sorted(self._held.items())
            ]

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                port_id: {"pci_address": vf.pci_address, "mac": mac, "network_id": net}
                for port_id, (vf, mac, net) in self._held.items()
            }
