"""Telemetry: what this host and its servers are doing, for ``/metrics`` and the local ring.

Every ``interval`` seconds :meth:`Telemetry.collect` takes one snapshot: host CPU and memory
(``/proc/stat``, ``/proc/meminfo``), disk (``statvfs`` of the data dir), per-server CPU time,
memory, vNIC and disk counters (the compute driver's domain stats) and each server's
``server_cpu_utilization_ratio`` since the last snapshot (of all its vCPUs), per-OVS-port
counters (the network driver), storage capacity and ``storage_images_usage_ratio`` (the image
cache against its cap), and the reconciler's own pass count. The snapshot is
what ``/metrics`` renders (prometheus-client text format, from a registry of our own: no
global state) and what goes into the SQLite ring (:mod:`.ring`), compacted as it ages.

Per server, from the agent's store (the ring's): ``atoll_server_info{server,name,project,
flavor}`` = 1, to join the id-labelled series on a name (``* on(server) group_left(name)
atoll_server_info``); ``atoll_server_status{server,status}`` and
``atoll_server_power_state{server,state}``, 1 for the one the server is in and 0 for the
others; ``atoll_server_restarts_total`` (restarts by the restart policy, never reset).
Those state series are for scrapes only; the ring keeps the counters and figures. The page
also has ``process_*``, ``python_*`` and ``atoll_build_info`` (:mod:`atoll.process_metrics`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from atoll.background import Loop, LoopSettings
from atoll.jsonbody import JSON
from atoll.site_agent.drivers.compute.base import DomainState
from atoll.site_agent.host import Host
from atoll.site_agent.ring import Ring
from atoll.site_agent.store import DesiredObject, LocalStore
from atoll.site_agent.views import SERVER_STATUSES, status_of

if TYPE_CHECKING:  # prometheus-client is imported at the first scrape of /metrics
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

Labels = dict[str, str]


@dataclass(frozen=True)
class Sample:
    name: str  # without the atoll_ prefix; counters end in _total
    labels: Labels
    value: float
    help: str
    kept: bool = True  # recorded in the ring (states and info series are for scrapes only)

    @property
    def counter(self) -> bool:
        return self.name.endswith("_total")


@dataclass
class Snapshot:
    taken_at: float = 0.0
    samples: list[Sample] = field(default_factory=list)

    def add(self, name: str, value: float, help_: str, **labels: str) -> None:
        self.samples.append(Sample(name, labels, float(value), help_))

    def add_state(self, name: str, value: float, help_: str, /, **labels: str) -> None:
        """A sample for ``/metrics`` only, not the ring (info and state series)."""
        self.samples.append(Sample(name, labels, float(value), help_, kept=False))


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
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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
        self._registry: CollectorRegistry | None = None
        self._collectors: list[Collector] = []  # more series (the TLS listener's)
        self._loop = Loop(
            "telemetry collection", self.tick, LoopSettings(interval=interval), logger=log
        )
        self._last_compact = 0.0
        self._cpu: dict[str, tuple[float, float]] = {}  # server -> (taken at, CPU seconds)

    @property
    def registry(self) -> CollectorRegistry:
        """What ``/metrics`` renders; made at the first scrape, so an agent nobody scrapes
        never imports prometheus-client (the collection loop and the ring do not need it)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            from atoll import process_metrics

            registry = CollectorRegistry(auto_describe=False)
            process_metrics.register(registry, "site-agent")
            registry.register(_SnapshotCollector(self))
            for collector in self._collectors:
                registry.register(collector)
            self._registry = registry
        return self._registry

    def add_collector(self, collector: Collector) -> None:
        """More series for ``/metrics`` (an object with ``collect()``, as prometheus-client
        asks), from now on."""
        self._collectors.append(collector)
        if self._registry is not None:
            self._registry.register(collector)

    async def collect(self) -> Snapshot:
        snap = Snapshot(taken_at=self.clock())
        for name, value, help_, labels in await asyncio.to_thread(read_host, self.data_dir):
            snap.add(name, value, help_, **labels)
        states = await self._servers(snap)
        await self._server_states(snap, states)
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
        if cap.images_cap_bytes > 0:
            snap.add(
                "storage_images_usage_ratio",
                cap.images_bytes / cap.images_cap_bytes,
                "image cache used, of its cap (0-1)",
            )
        snap.add("reconcile_passes_total", self.passes(), "reconciler passes since start")
        if self.extra is not None:
            for name, value, help_ in await self.extra():
                snap.add(name, value, help_)
        self.snapshot = snap
        return snap

    async def _servers(self, snap: Snapshot) -> dict[str, DomainState]:
        """Counters of every domain (and each one's CPU use since the last snapshot); returns
        the state each is in."""
        states: dict[str, DomainState] = {}
        seen: dict[str, tuple[float, float]] = {}
        for st in await self.host.compute.stats():
            sid = st.server_id
            states[sid] = st.state
            cpu = st.cpu_time_ns / 1e9
            snap.add("server_cpu_seconds_total", cpu, "guest CPU time", server=sid)
            seen[sid] = (snap.taken_at, cpu)
            before = self._cpu.get(sid)
            if before is not None and st.vcpus > 0 and snap.taken_at > before[0]:
                busy = max(0.0, cpu - before[1]) / (snap.taken_at - before[0]) / st.vcpus
                snap.add(
                    "server_cpu_utilization_ratio",
                    busy,
                    "guest CPU busy since the last sample, of all its vCPUs (0-1)",
                    server=sid,
                )
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
        self._cpu = seen
        return states

    async def _server_states(self, snap: Snapshot, states: dict[str, DomainState]) -> None:
        """Info, status, power state and restarts of every server the agent holds."""
        for server, status, detail in await self.ring.store.call(_server_facts, self.ring.store):
            sid = server.id
            spec = server.spec
            snap.add_state(
                "server_info",
                1,
                "one per server: its name, project id and flavor",
                server=sid,
                name=server.name or "",
                project=server.project_id or "",
                flavor=str(spec.get("flavor", "")),
            )
            for each in dict.fromkeys((*SERVER_STATUSES, status)):
                value = 1 if each == status else 0
                snap.add_state("server_status", value, "1 for the server's status", server=sid,
                               status=each)  # fmt: skip
            power = states.get(sid)
            if power is not None:
                for each_state in DomainState:
                    value = 1 if each_state == power else 0
                    snap.add_state("server_power_state", value, "1 for the hypervisor's state",
                                   server=sid, state=str(each_state))  # fmt: skip
            restarts = detail.get("restarts_total", 0)
            snap.add(
                "server_restarts_total", restarts, "restarts by the restart policy", server=sid
            )

    async def render(self) -> bytes:
        """The metrics page; a snapshot older than ``fresh_for`` seconds is retaken first."""
        if self.clock() - self.snapshot.taken_at > self.fresh_for:
            await self.collect()
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    async def tick(self) -> None:
        snap = await self.collect()
        rows = [(s.name, s.labels, s.value) for s in snap.samples if s.kept]
        await self.ring.store.call(self.ring.record_blocking, snap.taken_at, rows)
        if snap.taken_at - self._last_compact >= 300:
            self._last_compact = snap.taken_at
            await self.ring.store.call(self.ring.compact_blocking, snap.taken_at)

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()


def _server_facts(store: LocalStore) -> list[tuple[DesiredObject, str, JSON]]:
    """Every server with the status a client sees and its status detail (blocking)."""
    statuses = store.statuses("server")
    out = []
    for server in store.list_objects("server"):
        status = statuses.get(server.id)
        out.append((server, status_of(server, status), status.detail if status else {}))
    return out
