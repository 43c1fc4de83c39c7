"""The ``ComputeDriver`` protocol the site agent drives, and its value types.

A compute driver turns a :class:`DomainSpec` into a running guest and reports on it. The
agent core never sees libvirt: it passes values between drivers (the storage driver gives
disk paths, the network driver gives tap names and MACs) and hands them in here.

Contract (``FakeCompute`` implements it in memory; ``LibvirtCompute`` against libvirtd):

- A domain belongs to the agent when it carries the agent's server id in its metadata
  (and, for libvirt, its name is ``<name_prefix><server_id>``). :meth:`ComputeDriver.list`
  returns exactly those, never a domain someone else made on the same host.
- ``define`` is idempotent: defining a server id again replaces the stored definition (a
  running domain picks the new definition up at its next cold start). It raises
  :class:`~.errors.InvalidDomainSpec` for a spec that cannot work (a disk, kernel or
  config drive path that does not exist) and leaves nothing behind.
- ``start``, ``stop``, ``delete`` are idempotent: starting a running domain, stopping a
  stopped one, deleting a missing one all succeed. Other actions on an unknown server id
  raise :class:`~.errors.DomainNotFound`.
- ``stop`` asks the guest to power off (ACPI) and waits up to ``grace`` seconds, then
  pulls the plug; it says which happened.
- Volumes are hot-plugged (``attach_volume``) into the definition and, if it runs, the
  guest; a kill of the hypervisor process reads as STOPPED/failed with reason ``crashed``.
- Lifecycle events (started, stopped, crashed, ...) of the agent's domains reach every
  handler given to ``subscribe``, on the event loop, in the order libvirt sent them.
- No error names a host path: a server's status message (read by site users and, through
  the hub, by its tenant) and API answers carry them. A file is named by its name or by what
  it is ("the config drive of server S"); libvirt's, QEMU's and genisoimage's text has its
  paths cut to file names (``errors.translate``); the agent's log keeps the full text.
- Every method is a coroutine; blocking hypervisor calls run off the event loop.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

DiskFormat = Literal["qcow2", "raw"]
VirtType = Literal["auto", "kvm", "qemu"]
StopOutcome = Literal["already_stopped", "graceful", "forced"]


@dataclass(frozen=True)
class DiskBoot:
    """Boot from a disk image (normally a qcow2 overlay from the storage driver)."""

    path: Path
    format: DiskFormat = "qcow2"


@dataclass(frozen=True)
class KernelBoot:
    """Direct kernel boot, as Glance's kernel_id/ramdisk_id do.

    Put ``console=ttyS0`` in ``cmdline`` to see the kernel on the serial console log.
    """

    kernel: Path
    initrd: Path | None = None
    cmdline: str = ""
    root_disk: Path | None = None  # optional disk served as the first disk
    root_format: DiskFormat = "qcow2"


BootSource = DiskBoot | KernelBoot


@dataclass(frozen=True)
class DiskSpec:
    """An extra disk (a volume). ``volume_id`` becomes the disk's serial in the guest."""

    path: Path
    format: DiskFormat = "qcow2"
    read_only: bool = False
    volume_id: str | None = None


@dataclass(frozen=True)
class NicSpec:
    """One vNIC: a tap the network driver made and plugged, or an SR-IOV VF.

    Exactly one of ``tap`` (a host tap device name) and ``hostdev_pci`` (the VF's PCI
    address ``DDDD:BB:SS.F``) is set. ``vlan`` applies to hostdev NICs only (tap VLANs are
    the network driver's business, on the OVS port).
    """

    mac: str
    tap: str | None = None
    hostdev_pci: str | None = None
    vlan: int | None = None
    mtu: int | None = None


@dataclass(frozen=True)
class PortInfo:
    """One port of a server as people and tools see it (not what plugs it: :class:`NicSpec`)."""

    port_id: str
    network_id: str
    mac: str = ""
    ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class InstanceInfo:
    """What the hypervisor records about a server for people and tools, as Nova does in its
    ``nova:instance`` domain metadata: the flavor (by name; sizes are the spec's), the owning
    project's id, where the server was asked for (``hub`` or ``site``), its creation time,
    its root image and its ports. Nothing the driver acts on."""

    flavor: str = ""
    project_id: str = ""
    origin: str = ""
    created_at: float | None = None
    image: str | None = None
    ports: tuple[PortInfo, ...] = ()


@dataclass(frozen=True)
class DomainSpec:
    """Everything the hypervisor needs to run one server (and ``info`` to describe it)."""

    server_id: str
    name: str  # the server's display name (the hostname lives in the config drive)
    vcpus: int
    ram_mb: int
    boot: BootSource
    disks: tuple[DiskSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    config_drive: Path | None = None  # an ISO from build_config_drive, served read-only
    console_log: Path | None = None  # serial console captured to this file
    info: InstanceInfo = field(default_factory=InstanceInfo)


class DomainState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    SHUTTING_DOWN = "shutting_down"
    SHUTOFF = "shutoff"
    CRASHED = "crashed"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DomainStatus:
    server_id: str
    name: str  # display name from the spec
    state: DomainState
    domain_name: str = ""  # the hypervisor's name for it (``<prefix><server_id>``)
    uuid: str = ""
    reason: str = ""  # why it is in this state, e.g. "crashed", "destroyed", "shutdown"


class EventKind(enum.StrEnum):
    DEFINED = "defined"
    UNDEFINED = "undefined"
    STARTED = "started"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    STOPPED = "stopped"
    SHUTDOWN = "shutdown"  # the guest began or finished an orderly shutdown
    CRASHED = "crashed"
    OTHER = "other"


@dataclass(frozen=True)
class DomainEvent:
    server_id: str
    kind: EventKind
    detail: str  # the hypervisor's detail, e.g. "booted", "destroyed", "failed"
    state: DomainState  # the state this event implies


EventHandler = Callable[[DomainEvent], Awaitable[None]]


@dataclass(frozen=True)
class NicStats:
    device: str  # tap name, or the hostdev's name as the hypervisor reports it
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_drops: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_drops: int = 0


@dataclass(frozen=True)
class DiskStats:
    device: str  # the guest-visible target, e.g. "vda"
    path: str = ""
    read_bytes: int = 0
    read_requests: int = 0
    write_bytes: int = 0
    write_requests: int = 0


@dataclass(frozen=True)
class DomainStats:
    server_id: str
    state: DomainState
    cpu_time_ns: int = 0
    vcpus: int = 0
    memory_kib: int = 0  # memory the guest currently has (balloon current)
    memory_rss_kib: int = 0  # resident on the host (0 when not running)
    nics: tuple[NicStats, ...] = ()
    disks: tuple[DiskStats, ...] = ()


@dataclass(frozen=True)
class HostInfo:
    hostname: str
    cpus: int
    memory_mb: int
    virt_type: Literal["kvm", "qemu"]  # what ``auto`` resolved to
    hypervisor: str  # e.g. "QEMU 7.2.0" or "fake"


@dataclass(frozen=True)
class NetworkConfig:
    """Static addressing of one guest NIC, matched in the guest by MAC."""

    mac: str
    addresses: tuple[str, ...] = ()  # CIDR, e.g. "10.0.0.5/24" or "fd00::5/64"
    gateway: str | None = None
    dns: tuple[str, ...] = ()
    mtu: int | None = None


@dataclass(frozen=True)
class ConfigDriveSpec:
    """What goes on a config drive (cloud-init NoCloud layout)."""

    instance_id: str
    hostname: str
    ssh_keys: tuple[str, ...] = ()
    user_data: str | None = None
    networks: tuple[NetworkConfig, ...] = ()
    extra_meta: dict[str, str] = field(default_factory=dict)


class ComputeDriver(Protocol):
    async def host_info(self) -> HostInfo: ...

    async def define(self, spec: DomainSpec) -> DomainStatus:
        """Create or replace the stored definition; the domain stays as it was (or shut off)."""
        ...

    async def start(self, server_id: str) -> DomainStatus: ...

    async def stop(self, server_id: str, grace: float | None = None) -> StopOutcome:
        """ACPI power-off, then force after ``grace`` s (None: the driver's setting)."""
        ...

    async def reboot(self, server_id: str, *, hard: bool = False) -> DomainStatus:
        """Soft: ask the guest (ACPI). Hard: power off and start again from the definition."""
        ...

    async def rebuild(self, spec: DomainSpec) -> DomainStatus:
        """Force off, replace the definition (e.g. a fresh root disk), start again."""
        ...

    async def delete(self, server_id: str) -> None:
        """Force off and remove the definition; a missing domain is fine."""
        ...

    async def get(self, server_id: str) -> DomainStatus: ...

    async def list(self) -> builtins.list[DomainStatus]:
        """Exactly the domains this agent owns, in server id order."""
        ...

    async def read_console(self, server_id: str, tail_bytes: int = 65536) -> str:
        """The last ``tail_bytes`` of the serial console log ("" if nothing yet)."""
        ...

    async def stats(
        self, server_ids: builtins.list[str] | None = None
    ) -> builtins.list[DomainStats]:
        """Counters of the given servers (default: all of ours), for telemetry."""
        ...

    async def attach_volume(self, server_id: str, disk: DiskSpec) -> str:
        """Add a disk to the definition, and to the running guest if it runs (hot-plug).

        Idempotent: a disk already attached by ``disk.path`` keeps its target, which is
        returned (``vdb``, ...). Guests name disks in probe order; find a volume by its
        serial (``disk.volume_id``), not by this name.
        """
        ...

    async def detach_volume(self, server_id: str, path: Path, grace: float = 10.0) -> None:
        """Remove the disk at ``path`` from the definition and from the running guest.

        A running guest must release the device (ACPI hot-unplug); if it has not within
        ``grace`` seconds, ``ComputeTemporary`` is raised (retry later; the definition no
        longer has the disk, so a cold start never brings it back). Not attached: no-op.
        """
        ...

    async def build_config_drive(self, spec: ConfigDriveSpec, path: Path) -> Path:
        """Write an ISO9660 NoCloud config drive at ``path`` (atomically) and return it."""
        ...

    async def subscribe(self, handler: EventHandler) -> None:
        """Deliver lifecycle events of our domains to ``handler`` until ``close``."""
        ...

    async def close(self) -> None: ...
