"""Does a new server fit on this host? Checked when the API accepts it, before the reconciler.

Like Nova's placement: what may be allocated is the host's total times an allocation ratio
(``cpu_allocation_ratio`` 4.0, ``ram_allocation_ratio`` 1.0 after ``reserved_host_memory_mb``
is kept for the host, ``disk_allocation_ratio`` 1.0 of the storage's total); what is used
is what the site's servers (not those being deleted) and volumes reserve: their flavors'
vCPUs and RAM, their root disks (the image's virtual size) and volume sizes, whether or
not they are built yet. A server that does not fit is refused with
:class:`~.errors.InsufficientCapacity` naming each short resource and by how much.

The host's totals come from the drivers (``ComputeDriver.host_info``,
``StorageDriver.capacity``); adding up what is used runs in the store's thread, in the same
call that writes the server, so two requests cannot both take the last room.
"""

from __future__ import annotations

from dataclasses import dataclass

from atoll.site_agent.drivers.compute.base import ComputeDriver, HostInfo
from atoll.site_agent.drivers.storage.base import StorageDriver
from atoll.site_agent.errors import InsufficientCapacity

MiB = 1024**2


@dataclass(frozen=True)
class AllocationRatios:
    cpu: float = 4.0
    ram: float = 1.0
    disk: float = 1.0
    reserved_host_memory_mb: int = 512


@dataclass(frozen=True)
class Claim:
    """vCPUs, RAM and disk: a host's allocatable totals, what is used, or what is asked."""

    vcpus: int = 0
    ram_mb: int = 0
    disk_bytes: int = 0

    def __add__(self, other: Claim) -> Claim:
        return Claim(
            self.vcpus + other.vcpus,
            self.ram_mb + other.ram_mb,
            self.disk_bytes + other.disk_bytes,
        )


class HostCapacity:
    """The host's allocatable totals: CPUs and memory read from the compute driver once (they
    do not change while the agent runs), disk from the storage driver on each check."""

    def __init__(
        self, compute: ComputeDriver, storage: StorageDriver, ratios: AllocationRatios
    ) -> None:
        self.compute = compute
        self.storage = storage
        self.ratios = ratios
        self._host: HostInfo | None = None

    async def totals(self) -> Claim:
        if self._host is None:
            self._host = await self.compute.host_info()
        info, storage = self._host, await self.storage.capacity()
        r = self.ratios
        return Claim(
            vcpus=int(info.cpus * r.cpu),
            ram_mb=int(max(info.memory_mb - r.reserved_host_memory_mb, 0) * r.ram),
            disk_bytes=int(storage.total_bytes * r.disk),
        )


def check_fits(what: str, asked: Claim, used: Claim, totals: Claim) -> None:
    """Raise :class:`InsufficientCapacity` unless ``asked`` fits beside ``used``."""
    short = []
    for name, unit, scale in (("vcpus", "", 1), ("ram_mb", " MB", 1), ("disk_bytes", " MB", MiB)):
        want, have, total = (getattr(x, name) for x in (asked, used, totals))
        free = max(total - have, 0)
        if want > free:
            label = "root disk" if name == "disk_bytes" else name
            short.append(
                f"{label}: needs {_n(want, scale)}{unit}, {_n(free, scale)}{unit} free of "
                f"{_n(total, scale)}{unit} allocatable ({_n(want - free, scale)}{unit} short)"
            )
    if short:
        raise InsufficientCapacity(f"this host cannot hold {what}: " + "; ".join(short))


def _n(value: int, scale: int) -> int:
    return -(-value // scale)  # rounded up: never "0 MB short"
