"""Telemetry: what this host and its servers are doing, for ``/metrics`` and the local ring.

Every ``interval`` seconds :meth:`Telemetry.collect` takes one snapshot: host CPU and memory
(``/proc/stat``, ``/proc/meminfo``), disk (``statvfs`` of the data dir), per-server CPU time,
memory, vNIC and disk counters (the compute driver's domain stats), per-OVS-port counters
(the network driver), storage capacity, and the reconciler's own pass count. The snapshot is
what ``/metrics`` renders (prometheus-client text format, from a registry of our own: no
global state) and what goes into the SQLite ring (:mod:`.ring`), compacted as it ages.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from atoll.background import Loop, LoopSettings
from atoll.site_agent.host import Host
from atoll.site_agent.ring import Ring

log = logging.getLogger(__name__)

Labels = dict[str, str]


@dataclass(frozen=True)
class Sample:
    name: str  # without the atoll_ prefix; counters end in _total
    labels: Labels
    value: float
    help: str

    @property
    def counter(self) -> bool:
        return self.name.endswith("_total")


@dataclass
class Snapshot:
    taken_at: float = 0.0
    samples: list[Sample] = field(default_factory=list)

    def add(self, name: str, value: float, help_: str, **labels: str) -> None:
        self.samples.append(Sample(name, labels, float(value), help_))


def read_host(data_dir: Path) -> list[tuple[str, float, str, Labels]]:
    """Host CPU seconds by mode, memory and disk of the data dir, from /proc and statvfs."""
    out: list[tuple[str, float, str, Labels]] = []
    tick = os.sysconf("SC_CLK_TCK")
    with Path("/proc/stat").open() as fh:
        fields = fh.readline().split()[1:]
    modes = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    for mode, value in zip(modes, fields, strict=False):
        out.append(
            ("host_cpu_seconds_total", int(value) / tick, "host CPU time by mode", {"mode": mode})
        )
    mem: dict[str, int] = {}
    with Path("/proc/meminfo").open() as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            mem[key] = int(rest.split()[0]) * 1024
    out.append(("host_memory_total_bytes", mem.get("MemTotal", 0), "host memory", {}))
    out.append(
        ("host_memory_available_bytes", mem.get("MemAvailable", 0), "host memory available", {})
    )
    st = os.statvfs(data_dir)
    out.append(("host_disk_total_bytes", st.f_blocks * st.f_frsize, "data dir filesystem size", {}))
    out.append(("host_disk_free_bytes", st.f_bavail * st.f_frsize, "data dir filesystem free", {}))
    return out


class _SnapshotCollector:
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def collect(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for s in self.telemetry.snapshot.samples:
            family = families.get(s.name)
            if family is None:
                keys = sorted(s.labels)
                if s.counter:
                    family = CounterMetricFamily(
                        "atoll_" + s.name.removesuffix("_total"), s.help, labels=keys
                    )
                else:
                    family = GaugeMetricFamily("atoll_" + s.name, s.help, labels=keys)
                families[s.name] = family
            family.add_metric([s.labels[k] for k in sorted(s.labels)], s.value)
        yield from families.values()


class Telemetry:
    def __init__(
        self,
        host: Host,
        ring: Ring,
        data_dir: Path,
        interval: float = 10.0,
        passes: Callable[[], int] = lambda: 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.ring = ring
        self.data_dir = data_dir
        self.interval = interval
        self.passes = passes
        self.clock = clock
        self.snapshot = Snapshot()
        self.fresh_for = 2.0
        # more figures for /metrics (the sync session's): (name, value, help)
        self.extra: Callable[[], Awaitable[list[tuple[str, float, str]]]] | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_SnapshotCollector(self))
        self._loop = Loop(
            "telemetry collection", self.tick, LoopSettings(interval=interval), logger=log
        )
        self._last_compact = 0.0

    async def collect(self) -> Snapshot:
        snap = Snapshot(taken_at=self.clock())
        for name, value, help_, labels in await asyncio.to_thread(read_host, self.data_dir):
            snap.add(name, value, help_, **labels)
        await self._servers(snap)
        for port in await self.host.network.port_stats():
            for key in (
                "rx_bytes",
                "rx_packets",
                "tx_bytes",
                "tx_packets",
                "rx_dropped",
                "tx_dropped",
            ):
                snap.add(
                    f"ovs_port_{key}_total",
                    getattr(port, key),
                    f"OVS port {key}",
                    port=port.port_id,
                    device=port.device,
                )
        cap = await self.host.storage.capacity()
        for key in (
            "total_bytes",
            "free_bytes",
            "used_bytes",
            "provisioned_bytes",
            "images_bytes",
            "images_cap_bytes",
        ):
            snap.add(f"storage_{key}", getattr(cap, key), f"local storage {key}")
        snap.add("reconcile_passes_total", self.passes(), "reconciler passes since start")
        if self.extra is not None:
            for name, value, help_ in await self.extra():
                snap.add(name, value, help_)
        self.snapshot = snap
        return snap

    async def _servers(self, snap: Snapshot) -> None:
        for st in await self.host.compute.stats():
            sid = st.server_id
            snap.add("server_cpu_seconds_total", st.cpu_time_ns / 1e9, "guest CPU time", server=sid)
            snap.add("server_memory_bytes", st.memory_kib * 1024, "guest memory", server=sid)
            snap.add(
                "server_memory_rss_bytes",
                st.memory_rss_kib * 1024,
                "guest RSS on the host",
                server=sid,
            )
            for nic in st.nics:
                for key in ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets"):
                    snap.add(
                        f"server_vnic_{key}_total",
                        getattr(nic, key),
                        f"vNIC {key}",
                        server=sid,
                        device=nic.device,
                    )
            for disk in st.disks:
                for key in ("read_bytes", "read_requests", "write_bytes", "write_requests"):
                    snap.add(
                        f"server_disk_{key}_total",
                        getattr(disk, key),
                        f"disk {key}",
                        server=sid,
                        device=disk.device,
                    )

    async def render(self) -> bytes:
        """The metrics page; a snapshot older than ``fresh_for`` seconds is retaken first."""
        if self.clock() - self.snapshot.taken_at > self.fresh_for:
            await self.collect()
        return generate_latest(self.registry)

    async def tick(self) -> None:
        snap = await self.collect()
        rows = [(s.name, s.labels, s.value) for s in snap.samples]
        await self.ring.store.call(self.ring.record_blocking, snap.taken_at, rows)
        if snap.taken_at - self._last_compact >= 300:
            self._last_compact = snap.taken_at
            await self.ring.store.call(self.ring.compact_blocking, snap.taken_at)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
