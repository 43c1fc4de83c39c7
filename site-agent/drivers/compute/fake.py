"""``FakeCompute``: an in-memory compute driver that documents real hypervisor semantics.

Like nova's ``virt/fake.py``, this is the reference for what the agent core may rely on
from any compute driver, and cheap enough to run thousands of simulated sites in one
process (no threads, no files, no subprocesses). It behaves as ``LibvirtCompute`` does on
a real host, with these facts of real hypervisor connections built in:

- **Ownership.** The fake holds only the agent's own domains; :meth:`adopt_foreign` adds a
  domain made by someone else (a person with ``virsh``), which :meth:`list` must never
  return and :meth:`define` must refuse to overwrite (``DomainConflict``).
- **Definitions vs runs.** ``define`` stores a definition (state ``shutoff``), it does not
  start anything. Redefining a running domain keeps it running; the new definition takes
  effect at the next cold start (``stop``+``start``, hard ``reboot``, ``rebuild``).
- **Idempotence.** ``start`` on a running domain, ``stop`` on a stopped one and ``delete`` on
  a missing one succeed without doing anything; every other action on an unknown server id
  raises ``DomainNotFound``.
- **Graceful stop.** ``stop`` sends ACPI power-off. A guest with an OS shuts down
  (``graceful``); a guest that ignores ACPI (no OS, hung: see :meth:`hang`) is forced off
  after ``grace`` seconds (``forced``). The fake really waits that long (asyncio sleep).
- **Soft reboot** is a request to the guest; a hung guest ignores it and keeps running.
- **Events** arrive after the call that caused them returns, in order, on the event loop:
  ``define`` -> DEFINED, ``start`` -> STARTED/booted, graceful stop -> SHUTDOWN/finished
  then STOPPED/shutdown, forced stop -> STOPPED/destroyed, ``delete`` -> UNDEFINED, a QEMU
  process dying (:meth:`crash`) -> STOPPED/failed, leaving the state ``shutoff`` with the
  reason ``crashed`` (what libvirt reports when QEMU is killed under a guest). A domain
  defined and never started is ``shutoff`` with the reason ``unknown``, as in libvirt.
- **Paths.** The real driver refuses specs whose disks, kernel or config drive do not exist,
  and volumes whose file does not; the fake checks the files only with ``check_paths=True``
  (simulated sites have no files). Either names a missing file by its name (a volume by its
  id), never by its host path.
- **Console.** Each start appends a boot line to the console log kept in memory; the real
  driver returns what the guest wrote to its serial port.
- **Volumes.** ``attach_volume`` names the disk on the first free target after the boot
  disk, volumes and config drive (``vdb``...), as libvirt does, and is idempotent by path.
  ``detach_volume`` is immediate here; on a real host a running guest must release the
  device (ACPI hot-unplug) and the driver raises ``ComputeTemporary`` if it does not.
- **Stats** count up while a domain runs (one second of CPU per call) so telemetry sees
  movement.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from atoll.errors import Problem
from atoll.site_agent.drivers.compute import configdrive
from atoll.site_agent.drivers.compute.base import (
    ConfigDriveSpec,
    DiskBoot,
    DiskSpec,
    DiskStats,
    DomainEvent,
    DomainSpec,
    DomainState,
    DomainStats,
    DomainStatus,
    EventHandler,
    EventKind,
    HostInfo,
    NicStats,
    StopOutcome,
)
from atoll.site_agent.drivers.compute.dispatch import Dispatcher
from atoll.site_agent.drivers.compute.errors import (
    DomainConflict,
    DomainNotFound,
    InvalidDomainSpec,
)
from atoll.site_agent.drivers.compute.validation import check_spec

log = logging.getLogger(__name__)

DEFAULT_STOP_TIMEOUT = 60.0


@dataclass
class _Domain:
    spec: DomainSpec
    state: DomainState = DomainState.SHUTOFF
    reason: str = "unknown"  # defined, never started: libvirt's VIR_DOMAIN_SHUTOFF_UNKNOWN
    hung: bool = False
    console: str = ""
    cpu_ns: int = 0
    boots: int = 0
    attached: dict[Path, str] = field(default_factory=dict)  # hot-plugged disks


class FakeCompute:
    """In-memory :class:`~.base.ComputeDriver`; see the module docstring for the contract."""

    def __init__(
        self,
        *,
        hostname: str = "fake-host",
        cpus: int = 64,
        memory_mb: int = 262144,
        check_paths: bool = False,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        self._host = HostInfo(hostname, cpus, memory_mb, "qemu", "fake")
        self._check_paths = check_paths
        self._stop_timeout = stop_timeout
        self._domains: dict[str, _Domain] = {}
        self._foreign: set[str] = set()
        self._events = Dispatcher()
        self.config_drives: dict[Path, dict[str, str]] = {}  # path -> rendered files

    # -- test and simulation hooks ------------------------------------------------------

    def adopt_foreign(self, server_id: str) -> None:
        """Pretend someone else made a domain with the name this server id would get."""
        self._foreign.add(server_id)

    def hang(self, server_id: str, hung: bool = True) -> None:
        """Make the guest ignore ACPI (stop is forced after the timeout, soft reboot no-op)."""
        self._dom(server_id).hung = hung

    def crash(self, server_id: str) -> None:
        """The QEMU process dies under a running guest."""
        dom = self._dom(server_id)
        dom.state, dom.reason = DomainState.SHUTOFF, "crashed"
        self._emit(server_id, EventKind.STOPPED, "failed", DomainState.SHUTOFF)

    # -- the protocol -------------------------------------------------------------------

    async def host_info(self) -> HostInfo:
        return self._host

    async def define(self, spec: DomainSpec) -> DomainStatus:
        check_spec(spec, check_paths=self._check_paths)
        if spec.server_id in self._foreign:
            raise DomainConflict(
                f"server {spec.server_id}: a domain of that name exists and is not ours"
            )
        dom = self._domains.get(spec.server_id)
        detail = "updated" if dom is not None else "added"
        if dom is None:
            dom = self._domains[spec.server_id] = _Domain(spec)
        else:
            dom.spec, dom.attached = spec, {}
        self._emit(spec.server_id, EventKind.DEFINED, detail, dom.state)
        return self._status(spec.server_id, dom)

    async def start(self, server_id: str) -> DomainStatus:
        dom = self._dom(server_id)
        if dom.state != DomainState.RUNNING:
            self._boot(server_id, dom)
        return self._status(server_id, dom)

    async def stop(self, server_id: str, grace: float | None = None) -> StopOutcome:
        dom = self._dom(server_id)
        if dom.state != DomainState.RUNNING:
            return "already_stopped"
        if dom.hung:
            await asyncio.sleep(self._stop_timeout if grace is None else grace)
            self._power_off(server_id, dom, "destroyed")
            return "forced"
        self._emit(server_id, EventKind.SHUTDOWN, "finished", DomainState.SHUTTING_DOWN)
        self._power_off(server_id, dom, "shutdown")
        return "graceful"

    async def reboot(self, server_id: str, *, hard: bool = False) -> DomainStatus:
        dom = self._dom(server_id)
        if hard:
            if dom.state == DomainState.RUNNING:
                self._power_off(server_id, dom, "destroyed")
            self._boot(server_id, dom)
        elif dom.state == DomainState.RUNNING and not dom.hung:
            dom.console += f"[fake] {server_id} rebooting\n"
        elif dom.state != DomainState.RUNNING:
            raise DomainConflict(f"server {server_id}: cannot reboot a domain that is not running")
        return self._status(server_id, dom)

    async def rebuild(self, spec: DomainSpec) -> DomainStatus:
        check_spec(spec, check_paths=self._check_paths)
        dom = self._dom(spec.server_id)
        if dom.state == DomainState.RUNNING:
            self._power_off(spec.server_id, dom, "destroyed")
        await self.define(spec)
        return await self.start(spec.server_id)

    async def delete(self, server_id: str) -> None:
        dom = self._domains.get(server_id)
        if dom is None:
            return
        if dom.state == DomainState.RUNNING:
            self._power_off(server_id, dom, "destroyed")
        del self._domains[server_id]
        self._emit(server_id, EventKind.UNDEFINED, "removed", DomainState.SHUTOFF)

    async def get(self, server_id: str) -> DomainStatus:
        return self._status(server_id, self._dom(server_id))

    async def list(self) -> builtins.list[DomainStatus]:
        return [self._status(sid, self._domains[sid]) for sid in sorted(self._domains)]

    async def read_console(self, server_id: str, tail_bytes: int = 65536) -> str:
        data = self._dom(server_id).console.encode()
        return data[-tail_bytes:].decode(errors="replace")

    async def stats(
        self, server_ids: builtins.list[str] | None = None
    ) -> builtins.list[DomainStats]:
        ids = sorted(self._domains) if server_ids is None else server_ids
        result = []
        for sid in ids:
            dom = self._domains.get(sid)
            if dom is None:
                continue
            running = dom.state == DomainState.RUNNING
            if running:
                dom.cpu_ns += 1_000_000_000
            nics = tuple(NicStats(n.tap or n.hostdev_pci or "") for n in dom.spec.nics)
            disks = tuple(DiskStats(f"vd{chr(ord('a') + i)}") for i in range(len(dom.spec.disks)))
            memory = dom.spec.ram_mb * 1024
            result.append(
                DomainStats(
                    sid,
                    dom.state,
                    cpu_time_ns=dom.cpu_ns,
                    vcpus=dom.spec.vcpus,
                    memory_kib=memory,
                    memory_rss_kib=memory // 4 if running else 0,
                    nics=nics,
                    disks=disks,
                )
            )
        return result

    async def attach_volume(self, server_id: str, disk: DiskSpec) -> str:
        dom = self._dom(server_id)
        if self._check_paths and not disk.path.is_file():
            what = f"volume {disk.volume_id}" if disk.volume_id else f"file {disk.path.name}"
            raise InvalidDomainSpec(
                f"server {server_id}: cannot attach",
                [Problem(what, "does not exist or is not a file")],
            )
        targets = self._targets(dom)
        if disk.path not in targets:
            used = set(targets.values())
            free = next(t for t in (f"vd{chr(ord('a') + i)}" for i in range(26)) if t not in used)
            dom.attached[disk.path] = free
            return free
        return targets[disk.path]

    async def detach_volume(self, server_id: str, path: Path, grace: float = 10.0) -> None:
        dom = self._dom(server_id)
        dom.attached.pop(path, None)
        dom.spec = replace(dom.spec, disks=tuple(d for d in dom.spec.disks if d.path != path))

    @staticmethod
    def _targets(dom: _Domain) -> dict[Path, str]:
        """Targets as the real driver names them: boot disk, volumes, config drive, then
        hot-plugged disks on the first free name."""
        boot = dom.spec.boot
        first = boot.path if isinstance(boot, DiskBoot) else boot.root_disk
        paths = [first] if first is not None else []
        paths += [d.path for d in dom.spec.disks]
        paths += [dom.spec.config_drive] if dom.spec.config_drive is not None else []
        targets = {p: "vd" + chr(ord("a") + i) for i, p in enumerate(paths)}
        return {**targets, **dom.attached}

    async def build_config_drive(self, spec: ConfigDriveSpec, path: Path) -> Path:
        self.config_drives[path] = configdrive.render(spec)
        return path

    async def subscribe(self, handler: EventHandler) -> None:
        self._events.subscribe(handler)

    async def close(self) -> None:
        await self._events.close()

    # -- internals ----------------------------------------------------------------------

    def _dom(self, server_id: str) -> _Domain:
        dom = self._domains.get(server_id)
        if dom is None:
            raise DomainNotFound(f"server {server_id}: no domain of ours has this id")
        return dom

    def _status(self, server_id: str, dom: _Domain) -> DomainStatus:
        return DomainStatus(
            server_id,
            dom.spec.name,
            dom.state,
            domain_name=f"fake-{server_id}",
            uuid="",
            reason=dom.reason,
        )

    def _boot(self, server_id: str, dom: _Domain) -> None:
        dom.state, dom.reason, dom.boots = DomainState.RUNNING, "booted", dom.boots + 1
        dom.console += f"[fake] {server_id} booted ({dom.boots})\n"
        self._emit(server_id, EventKind.STARTED, "booted", DomainState.RUNNING)

    def _power_off(self, server_id: str, dom: _Domain, detail: str) -> None:
        dom.state, dom.reason = DomainState.SHUTOFF, detail
        self._emit(server_id, EventKind.STOPPED, detail, DomainState.SHUTOFF)

    def _emit(self, server_id: str, kind: EventKind, detail: str, state: DomainState) -> None:
        self._events.put(DomainEvent(server_id, kind, detail, state))
