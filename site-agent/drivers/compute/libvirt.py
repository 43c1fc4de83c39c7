"""``LibvirtCompute``: the compute driver on a real libvirtd (QEMU, TCG or KVM).

- One connection (``settings.uri``), reopened when libvirtd restarts; blocking libvirt
  calls run in a small thread pool, never on the event loop.
- Domains are named ``<name_prefix><server_id>`` and carry the server id in an atoll
  metadata element (``domainxml.py``); :meth:`list` returns only domains with both. A new
  domain's UUID is the server id when that is an id of :mod:`atoll.ids` (as Nova does); a
  redefined domain keeps the UUID it has.
- The domain type comes from ``settings.virt_type``; ``auto`` probes (``virttype.py``).
- Lifecycle events come from libvirt's default event loop in a thread (``events.py``),
  filtered by the name prefix and then by our metadata, and reach the subscribed async
  handlers in order. Events during a libvirtd outage are lost: after it returns, the
  connection (and the event registration) is reopened on the next call; callers re-list.
- libvirt errors become :mod:`~.errors` types at this boundary (``errors.translate``), with
  no host path in their messages; the agent's log gets what was cut, once per server until
  it changes (a temporary failure is retried, the log needs it once).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import libvirt

from atoll import ids
from atoll.errors import Problem
from atoll.site_agent.drivers.compute import configdrive, domainstats, domainxml, events, virttype
from atoll.site_agent.drivers.compute.base import (
    ConfigDriveSpec,
    DiskSpec,
    DomainEvent,
    DomainSpec,
    DomainStats,
    DomainStatus,
    EventHandler,
    EventKind,
    HostInfo,
    StopOutcome,
)
from atoll.site_agent.drivers.compute.dispatch import Dispatcher
from atoll.site_agent.drivers.compute.errors import (
    ComputeError,
    ComputeTemporary,
    DomainConflict,
    DomainNotFound,
    InvalidDomainSpec,
    translate,
)
from atoll.site_agent.drivers.compute.settings import LibvirtSettings
from atoll.site_agent.drivers.compute.validation import check_server_id, check_spec

log = logging.getLogger(__name__)

T = TypeVar("T")
STOP_POLL_SECONDS = 0.1
SYS_NET = Path("/sys/class/net")
LIBVIRTD_PID = Path("/run/libvirtd.pid")


def _tap_exists(tap: str) -> bool:
    """Whether QEMU will find ``tap``: in this namespace, or in libvirtd's (QEMU runs in the
    daemon's network namespace, which is not the agent's when the agent runs in a namespace
    of its own, as in the testbed; ``/proc/<pid>/net/dev`` lists that namespace's links)."""
    if (SYS_NET / tap).exists():
        return True
    try:
        pid = int(LIBVIRTD_PID.read_text().strip())
        listed = Path(f"/proc/{pid}/net/dev").read_text()
    except (OSError, ValueError):
        return False
    return any(line.split(":", 1)[0].strip() == tap for line in listed.splitlines()[2:])


UNDEFINE_FLAGS = libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; we raise them instead."""


class LibvirtCompute:
    """:class:`~.base.ComputeDriver` on libvirtd; see the module docstring."""

    def __init__(self, settings: LibvirtSettings, probe: virttype.HostProbe | None = None) -> None:
        self._settings = settings
        self._prefix = settings.name_prefix
        self.virt_type = virttype.resolve(settings.virt_type, probe)
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="libvirt")
        self._conn: libvirt.virConnect | None = None
        self._callback_id: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events = Dispatcher(self._ours)
        self._connection_lost = False
        self._connect_lock = threading.Lock()
        self._owned_ids: set[str] = set()  # server ids seen as ours (filters events)
        self._told: dict[str, str] = {}  # server id -> the host's text of its last failure

    # -- plumbing -----------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args))

    async def _call(self, action: str, server_id: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in a worker, libvirt errors translated for ``action``."""
        return await self._run(self._translated, action, server_id, functools.partial(fn, *args))

    def _connection(self) -> libvirt.virConnect:
        """The live connection, opened (again) if needed. Runs in a worker thread."""
        with self._connect_lock:
            return self._live_connection()

    def _live_connection(self) -> libvirt.virConnect:
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                if conn.isAlive():
                    return conn
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()
            self._conn = None
            self._callback_id = None
        events.ensure_event_loop()
        libvirt.registerErrorHandler(_quiet, None)
        try:
            conn = libvirt.open(self._settings.uri)
            conn.setKeepAlive(5, 3)
        except libvirt.libvirtError as exc:
            if not self._connection_lost:
                log.warning("libvirt at %s is unreachable: %s", self._settings.uri, exc)
                self._connection_lost = True
            said = translate(exc, f"connect to {self._settings.uri}").message
            raise ComputeTemporary(said, delay=2.0) from exc  # libvirtd may return: retry
        if self._connection_lost:
            log.warning("libvirt at %s is reachable again", self._settings.uri)
            self._connection_lost = False
        self._conn = conn
        if self._events.subscribed:
            self._register_events(conn)
        return conn

    def _domain_name(self, server_id: str) -> str:
        return self._prefix + server_id

    def _lookup(self, conn: libvirt.virConnect, server_id: str) -> libvirt.virDomain | None:
        """Our domain for ``server_id``, None if absent; DomainConflict if not ours."""
        try:
            dom = conn.lookupByName(self._domain_name(server_id))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise translate(exc, "look up", server_id) from exc
        if self._owner(dom) is None:
            raise DomainConflict(
                f"server {server_id}: domain {dom.name()} exists but carries no atoll "
                "metadata; it is not ours, so it is left alone"
            )
        return dom

    def _require(self, conn: libvirt.virConnect, server_id: str) -> libvirt.virDomain:
        dom = self._lookup(conn, server_id)
        if dom is None:
            raise DomainNotFound(f"server {server_id}: no domain of ours has this id")
        return dom

    @staticmethod
    def _owner(dom: libvirt.virDomain) -> tuple[str, str] | None:
        try:
            text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, domainxml.NS)
        except libvirt.libvirtError:
            return None
        return domainxml.parse_metadata(text)

    def _status(self, dom: libvirt.virDomain, owner: tuple[str, str]) -> DomainStatus:
        self._owned_ids.add(owner[0])
        state, reason = events.state_of(*dom.state())
        return DomainStatus(
            owner[0], owner[1], state, domain_name=dom.name(), uuid=dom.UUIDString(), reason=reason
        )

    def _translated(self, action: str, server_id: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` translating libvirt errors (worker thread)."""
        try:
            return fn()
        except libvirt.libvirtError as exc:
            error = translate(exc, action, server_id)
            self._tell(server_id, error)
            raise error from exc
        except ComputeError as error:
            self._tell(server_id, error)
            raise

    def _tell(self, server_id: str, error: ComputeError) -> None:
        """Log what ``error``'s message had to leave out (host paths), once for a server until
        it says something else."""
        if error.on_host and self._told.get(server_id) != error.on_host:
            self._told[server_id] = error.on_host
            log.warning("%s", error.on_host)

    # -- the protocol -------------------------------------------------------------------

    async def host_info(self) -> HostInfo:
        def work() -> HostInfo:
            conn = self._connection()
            info = conn.getInfo()
            version = conn.getVersion()
            hv = f"QEMU {version // 1_000_000}.{version // 1000 % 1000}.{version % 1000}"
            return HostInfo(conn.getHostname(), int(info[2]), int(info[1]), self.virt_type, hv)

        return await self._call("read host info", "", work)

    def render(self, spec: DomainSpec, uuid: str = "") -> str:
        """The domain XML this driver defines for ``spec`` (also used by the benchmark)."""
        domain_name = self._domain_name(spec.server_id)
        return domainxml.render(spec, domain_name, self.virt_type, self._settings.machine, uuid)

    def _define(self, spec: DomainSpec) -> DomainStatus:
        check_spec(spec, check_paths=True)
        conn = self._connection()
        existing = self._lookup(conn, spec.server_id)  # refuses a foreign domain of that name
        if existing is not None:
            uuid = existing.UUIDString()
        else:
            uuid = spec.server_id if ids.is_id(spec.server_id) else ""
        xml = self.render(spec, uuid)
        try:
            dom = conn.defineXML(xml)
        except libvirt.libvirtError as exc:
            raise translate(exc, "define", spec.server_id, domainxml.host_files(xml)) from exc
        return self._status(dom, (spec.server_id, spec.name))

    async def define(self, spec: DomainSpec) -> DomainStatus:
        return await self._call("define", spec.server_id, self._define, spec)

    @staticmethod
    def _create(server_id: str, dom: libvirt.virDomain, action: str) -> None:
        """Start the defined domain; a missing tap or file is named plainly instead of QEMU's
        "internal error", and libvirt's errors name the domain's files by their names only."""
        xml = dom.XMLDesc(0)
        taps, files = domainxml.start_requirements(xml)
        problems = [
            Problem(f"tap {tap}", "does not exist on the host (the network driver makes it)")
            for tap in taps
            if not _tap_exists(tap)
        ]
        missing = [f for f in files if not f.exists()]
        problems += [Problem(f"file {f.name}", "does not exist") for f in missing]
        if problems:
            error = InvalidDomainSpec(f"server {server_id} cannot start", problems)
            if missing:  # where they were missing from: the operator's to know
                gone = ", ".join(map(str, missing))
                error.on_host = f"server {server_id} cannot start: missing {gone}"
            raise error
        try:
            dom.create()
        except libvirt.libvirtError as exc:
            raise translate(exc, action, server_id, domainxml.host_files(xml)) from exc

    def _start(self, server_id: str) -> DomainStatus:
        dom = self._require(self._connection(), server_id)
        if not dom.isActive():
            self._create(server_id, dom, "start")
        owner = self._owner(dom) or (server_id, "")
        return self._status(dom, owner)

    async def start(self, server_id: str) -> DomainStatus:
        return await self._call("start", server_id, self._start, server_id)

    def _ask_shutdown(self, server_id: str) -> bool:
        """Send ACPI power-off; False if the domain is not running."""
        dom = self._require(self._connection(), server_id)
        if not dom.isActive():
            return False
        try:
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID and not dom.isActive():
                return False
            raise
        return True

    def _is_active(self, server_id: str) -> bool:
        return bool(self._require(self._connection(), server_id).isActive())

    def _destroy(self, server_id: str) -> bool:
        """Force off; False if it was not running."""
        dom = self._require(self._connection(), server_id)
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID and not dom.isActive():
                return False
            raise
        return True

    async def stop(self, server_id: str, grace: float | None = None) -> StopOutcome:
        wait = self._settings.shutdown_timeout if grace is None else grace
        if not await self._call("shut down", server_id, self._ask_shutdown, server_id):
            return "already_stopped"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            await asyncio.sleep(STOP_POLL_SECONDS)
            if not await self._call("poll", server_id, self._is_active, server_id):
                return "graceful"
        log.info("server %s ignored ACPI power-off for %.0f s; forcing it off", server_id, wait)
        forced = await self._call("destroy", server_id, self._destroy, server_id)
        return "forced" if forced else "graceful"

    def _reboot(self, server_id: str, hard: bool) -> DomainStatus:
        conn = self._connection()
        dom = self._require(conn, server_id)
        if hard:
            if dom.isActive():
                dom.destroy()
            self._create(server_id, dom, "reboot")
        else:
            if not dom.isActive():
                raise DomainConflict(f"server {server_id}: cannot reboot, it is not running")
            dom.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)
        return self._status(dom, self._owner(dom) or (server_id, ""))

    async def reboot(self, server_id: str, *, hard: bool = False) -> DomainStatus:
        return await self._call("reboot", server_id, self._reboot, server_id, hard)

    def _rebuild(self, spec: DomainSpec) -> DomainStatus:
        check_spec(spec, check_paths=True)
        dom = self._require(self._connection(), spec.server_id)
        if dom.isActive():
            dom.destroy()
        self._define(spec)
        return self._start(spec.server_id)

    async def rebuild(self, spec: DomainSpec) -> DomainStatus:
        return await self._call("rebuild", spec.server_id, self._rebuild, spec)

    def _delete(self, server_id: str) -> None:
        self._told.pop(server_id, None)
        dom = self._lookup(self._connection(), server_id)
        if dom is None:
            return
        if dom.isActive():
            with contextlib.suppress(libvirt.libvirtError):
                dom.destroy()
        try:
            dom.undefineFlags(UNDEFINE_FLAGS)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise

    async def delete(self, server_id: str) -> None:
        check_server_id(server_id)
        await self._call("delete", server_id, self._delete, server_id)

    def _get(self, server_id: str) -> DomainStatus:
        dom = self._require(self._connection(), server_id)
        return self._status(dom, self._owner(dom) or (server_id, ""))

    async def get(self, server_id: str) -> DomainStatus:
        return await self._call("read", server_id, self._get, server_id)

    def _owned(self) -> builtins.list[tuple[libvirt.virDomain, tuple[str, str]]]:
        owned = []
        for dom in self._connection().listAllDomains(0):
            if not dom.name().startswith(self._prefix):
                continue
            owner = self._owner(dom)
            if owner is not None and dom.name() == self._domain_name(owner[0]):
                owned.append((dom, owner))
        return sorted(owned, key=lambda pair: pair[1][0])

    def _list(self) -> builtins.list[DomainStatus]:
        result = []
        for dom, owner in self._owned():
            with contextlib.suppress(libvirt.libvirtError):  # vanished while listing
                result.append(self._status(dom, owner))
        return result

    async def list(self) -> builtins.list[DomainStatus]:
        return await self._call("list domains", "", self._list)

    def _console(self, server_id: str, tail_bytes: int) -> str:
        dom = self._require(self._connection(), server_id)
        path = domainxml.console_path(dom.XMLDesc(0))
        if path is None:
            return ""
        try:
            with path.open("rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(size - tail_bytes, 0))
                return fh.read().decode(errors="replace")
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise translate(exc, "read the console of", server_id) from exc

    async def read_console(self, server_id: str, tail_bytes: int = 65536) -> str:
        return await self._call(
            "read the console of", server_id, self._console, server_id, tail_bytes
        )

    def _stats(self, server_ids: builtins.list[str] | None) -> builtins.list[DomainStats]:
        owned = self._owned()
        if server_ids is not None:
            wanted = set(server_ids)
            owned = [(d, o) for d, o in owned if o[0] in wanted]
        if not owned:
            return []
        by_uuid = {dom.UUIDString(): owner for dom, owner in owned}
        records = self._connection().domainListGetStats([d for d, _ in owned], domainstats.WANTED)
        result = []
        for dom, record in records:
            owner = by_uuid.get(dom.UUIDString())
            if owner is None:
                continue
            state, _ = events.state_of(int(record.get("state.state", 0)), 0)
            result.append(domainstats.parse(owner[0], state, record))
        return result

    async def stats(
        self, server_ids: builtins.list[str] | None = None
    ) -> builtins.list[DomainStats]:
        return await self._call("read stats", "", self._stats, server_ids)

    def _attach(self, server_id: str, disk: DiskSpec) -> str:
        dom = self._require(self._connection(), server_id)
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        if not disk.path.is_file():
            what = f"volume {disk.volume_id}" if disk.volume_id else f"file {disk.path.name}"
            raise InvalidDomainSpec(
                f"server {server_id}: cannot attach",
                [Problem(what, "does not exist or is not a file")],
            )
        current = domainxml.attached_disks(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        if disk.path in current:
            return current[disk.path]
        try:
            target = domainxml.free_target(dom.XMLDesc(0))
        except ValueError as exc:
            raise DomainConflict(f"server {server_id}: {exc}") from exc
        dom.attachDeviceFlags(domainxml.disk_device(disk, target), flags)
        return target

    async def attach_volume(self, server_id: str, disk: DiskSpec) -> str:
        return await self._call("attach a volume to", server_id, self._attach, server_id, disk)

    def _detach(self, server_id: str, path: Path) -> bool:
        """Ask for removal; True when the running guest still has the disk."""
        dom = self._require(self._connection(), server_id)
        inactive = domainxml.attached_disks(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        live = domainxml.attached_disks(dom.XMLDesc(0)) if dom.isActive() else {}
        if path in inactive:
            device = domainxml.disk_device(DiskSpec(path), inactive[path])
            dom.detachDeviceFlags(device, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        if path in live:
            device = domainxml.disk_device(DiskSpec(path), live[path])
            with contextlib.suppress(libvirt.libvirtError):  # an unplug already in flight
                dom.detachDeviceFlags(device, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            return path in domainxml.attached_disks(dom.XMLDesc(0))
        return False

    def _still_attached(self, server_id: str, path: Path) -> bool:
        dom = self._require(self._connection(), server_id)
        return dom.isActive() and path in domainxml.attached_disks(dom.XMLDesc(0))

    async def detach_volume(self, server_id: str, path: Path, grace: float = 10.0) -> None:
        if not await self._call("detach a volume from", server_id, self._detach, server_id, path):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            await asyncio.sleep(STOP_POLL_SECONDS)
            if not await self._call("poll", server_id, self._still_attached, server_id, path):
                return
        raise ComputeTemporary(
            f"server {server_id}: the guest has not released {path.name} after {grace:.0f} s "
            "(it needs ACPI hot-unplug); it is gone from the definition",
            delay=5.0,
        )

    async def build_config_drive(self, spec: ConfigDriveSpec, path: Path) -> Path:
        try:
            return await self._run(configdrive.build, spec, path)
        except ComputeError as error:
            self._tell(spec.instance_id, error)
            raise

    # -- events -------------------------------------------------------------------------

    def _register_events(self, conn: libvirt.virConnect) -> None:
        self._callback_id = conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
        )

    def _on_lifecycle(
        self, _conn: object, dom: libvirt.virDomain, event: int, detail: int, _opaque: object
    ) -> None:
        """Runs in the libvirt event thread: hand the event to the asyncio loop."""
        name = dom.name()
        loop = self._loop
        if not name.startswith(self._prefix) or loop is None:
            return
        kind, state, detail_name = events.describe(event, detail)
        item = DomainEvent(name[len(self._prefix) :], kind, detail_name, state)
        with contextlib.suppress(RuntimeError):  # the loop closed under us
            loop.call_soon_threadsafe(self._events.put, item)

    async def subscribe(self, handler: EventHandler) -> None:
        first = not self._events.subscribed
        self._events.subscribe(handler)
        if not first:
            return
        self._loop = asyncio.get_running_loop()

        def register() -> None:
            with self._connect_lock:
                conn = self._live_connection()
                if self._callback_id is None:
                    self._register_events(conn)

        await self._call("subscribe to events", "", register)

    def _is_ours(self, server_id: str) -> bool:
        try:
            return self._lookup(self._connection(), server_id) is not None
        except DomainConflict:
            return False

    async def _ours(self, event: DomainEvent) -> bool:
        """Whether an event under our name prefix is about a domain of ours (metadata)."""
        sid = event.server_id
        if sid in self._owned_ids:
            if event.kind == EventKind.UNDEFINED:
                self._owned_ids.discard(sid)
            return True
        if event.kind == EventKind.UNDEFINED:
            return False  # gone, and never seen as ours
        try:
            return await self._call("check the owner of", sid, self._is_ours, sid)
        except ComputeError:
            return False

    async def close(self) -> None:
        await self._events.close()

        def disconnect() -> None:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            with contextlib.suppress(libvirt.libvirtError):
                if self._callback_id is not None:
                    conn.domainEventDeregisterAny(self._callback_id)
            self._callback_id = None
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

        await self._run(disconnect)
        self._pool.shutdown(wait=True)
