"""Driving one server to its desired spec, and tearing one down.

Build order (each driver action journaled first, see :mod:`.journal`): root disk (storage),
port devices (network; addresses were leased when the server was admitted) and config
drive, made concurrently; domain defined (compute); then power: start / stop / reboot /
restart by policy. A port is wired (attached to its network with its anti-spoofing rules,
then brought up) from the moment its device exists, alongside the rest of the build and the
guest's start (a guest is given a device that is down and on no switch: nothing it sends
goes anywhere until the port is wired); the build's outcome is recorded once every port is
wired. Teardown is the reverse: domain, ports, root disk, files, then the store forgets the
server, its ports and leases. A permanent failure while building tears down what was made
and leaves the server in ``ERROR`` with the reason; a temporary one is retried on a later
pass (the generation is recorded as built only with the outcome, so that pass builds again).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from atoll import host_paths
from atoll.errors import AtollError, InvalidInput, NotFound, PermanentError, TemporaryError
from atoll.jsonbody import JSON
from atoll.resources import NetworkSpec as NetworkModel
from atoll.resources import PortSpec as PortModel
from atoll.resources import ServerSpec
from atoll.resources import SubnetSpec as SubnetModel
from atoll.site_agent.drivers.compute.base import (
    ConfigDriveSpec,
    DiskBoot,
    DiskSpec,
    DomainSpec,
    DomainState,
    DomainStatus,
    InstanceInfo,
    KernelBoot,
    NetworkConfig,
    NicSpec,
    PortInfo,
)
from atoll.site_agent.drivers.network.base import PortBinding
from atoll.site_agent.host import Host, network_spec, port_spec
from atoll.site_agent.journal import Journal
from atoll.site_agent.operations import operation_body
from atoll.site_agent.restart import Backoff, exit_kind, should_restart
from atoll.site_agent.store import DesiredObject, LocalStore
from atoll.site_agent.store.queues import event

log = logging.getLogger(__name__)
T = TypeVar("T")

_STATE = {
    DomainState.RUNNING: "ACTIVE",
    DomainState.PAUSED: "PAUSED",
    DomainState.SUSPENDED: "PAUSED",
    DomainState.SHUTTING_DOWN: "ACTIVE",
    DomainState.SHUTOFF: "SHUTOFF",
    DomainState.CRASHED: "CRASHED",
    DomainState.UNKNOWN: "UNKNOWN",
}


def status_of(state: DomainState) -> str:
    return _STATE.get(state, "UNKNOWN")


@dataclass(frozen=True)
class _Outcome:
    """What a power step leaves: the state to record, why, its detail, when to look again."""

    state: str
    message: str
    detail: JSON
    again: float | None = None


class _Wiring:
    """The ports of a build to wire (attach, give their rules, bring up) while its guest
    starts: that wait is libvirt's and QEMU's, so the wiring takes nothing from the build
    (begun any earlier, its Python work would slow the build's own steps)."""

    def __init__(self) -> None:
        self._plugs: list[Callable[[], Awaitable[PortBinding]]] = []

    def add(self, plug: Callable[[], Awaitable[PortBinding]]) -> None:
        self._plugs.append(plug)

    async def around(self, step: Awaitable[T]) -> T:
        """Every port wired while ``step`` runs; ``step``'s result once all are, or the first
        failure of any. No failure leaves a plug running (a teardown must not race one)."""
        tasks = [asyncio.ensure_future(plug()) for plug in self._plugs]
        try:
            result = await step
        except BaseException:
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
        return result


class ServerConverger:
    def __init__(
        self,
        store: LocalStore,
        host: Host,
        journal: Journal,
        backoff: Backoff,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.host = host
        self.journal = journal
        self.backoff = backoff
        self.clock = clock

    async def _act(self, sid: str, action: str, target: str, fn: Callable[[], Awaitable[T]]) -> T:
        return await self.journal.act("server", sid, action, target, fn)

    async def _status(self, sid: str, state: str, **kw: Any) -> None:
        await self.store.call(self.store.set_status, "server", sid, state, **kw)

    # -- ensure ------------------------------------------------------------------------------
    async def ensure(self, server: DesiredObject, domain: DomainStatus | None) -> float | None:
        """One pass for a live server; returns seconds until it wants another look, if any."""
        status = await self.store.call(self.store.get_status, "server", server.id)
        detail: JSON = dict(status.detail) if status else {}
        current = status is not None and status.observed_generation == server.generation
        if current and status is not None and status.state == "ERROR":
            return None  # failed for good at this generation; a new spec or delete moves it
        built: int | None = None  # the generation this pass builds, recorded with the outcome
        try:
            if not current or domain is None:
                if current and status is not None and status.state != "BUILDING":
                    await self._recreated(server, status.state)
                await self._status(server.id, "BUILDING", message="")
                domain, wiring = await self._build(server, domain, detail)
                # a domain just (re)defined is off because it never ran, not because it died
                outcome = await wiring.around(self._power(server, domain, detail, fresh=True))
                built = server.generation
                if outcome.state == "ACTIVE":  # built, started and wired: Nova's launched_at
                    outcome.detail["launched_at"] = self.clock()
            else:
                outcome = await self._power(server, domain, detail, fresh=False)
            await self._status(
                server.id,
                outcome.state,
                observed_generation=built,
                message=outcome.message,
                detail=outcome.detail,
            )
            return outcome.again
        except TemporaryError as exc:
            await self._status(
                server.id,
                "BUILDING" if not current else status.state if status else "BUILDING",
                message=f"waiting: {exc.message}",
            )
            return max(exc.delay, 1.0)
        except AtollError as exc:
            log.warning("server %s (%s) failed: %s", server.name, server.id, exc.message)
            await self.teardown(server, purge=False)
            await self._status(
                server.id,
                "ERROR",
                observed_generation=server.generation,
                message=host_paths.cut(exc.message),  # a network error's too (logged above)
                detail={"volumes": {}},
            )
            return None

    async def _recreated(self, server: DesiredObject, was: str) -> None:
        """A built server's domain is gone (destroyed behind the agent's back): the site heals
        it by building it again, and the hub hears of it as an ``action``/``recreate`` by the
        reconciler (like a restart, it changes no intent, so it holds nothing)."""
        now, sid = self.clock(), server.id
        record = operation_body("action", "server", sid, server.hub_revision, None, at=now,
                                actor="reconciler", action="recreate")  # fmt: skip
        why = f"the server's domain is gone (it was {was}): recreated"
        await self.store.call(
            self.store.queue_facts,
            [("operation", record), ("event", event("server", sid, "restarted", why, now))],
            kind="server",
            obj_id=sid,
        )
        log.warning("server %s (%s): %s", server.name, sid, why)

    async def _build(
        self, server: DesiredObject, domain: DomainStatus | None, detail: JSON
    ) -> tuple[DomainStatus, _Wiring]:
        """Everything up to the domain defined, on the ports' devices; their wiring is left
        to be done while the guest starts."""
        spec, sid, wiring = server.typed(ServerSpec), server.id, _Wiring()
        rebuild = spec.rebuilds > detail.get("rebuilds_done", 0)
        if rebuild:
            await self._act(sid, "delete_domain", sid, lambda: self.host.compute.delete(sid))
            await self._act(
                sid, "delete_root_disk", sid, lambda: self.host.storage.delete_root_disk(sid)
            )
        disks = []
        for vol_id in spec.volumes:
            try:
                vol = await self.host.storage.get_volume(vol_id)
            except NotFound as exc:
                raise TemporaryError(f"volume {vol_id} is not created yet", delay=1.0) from exc
            disks.append(DiskSpec(vol.path, vol.format, volume_id=vol_id))
        ports = [await self.store.call(self.store.get_object, "port", p) for p in spec.ports]
        # port devices, root disk and config drive do not depend on each other: made at once
        results = await asyncio.gather(
            *(self._plug(server, p, wiring) for p in ports),
            self._boot_source(server),
            self._config_drive(server, ports),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        bindings = [r for r in results[: len(ports)] if isinstance(r, PortBinding)]
        boot, drive = results[len(ports) :]
        assert isinstance(boot, DiskBoot | KernelBoot) and isinstance(drive, Path)
        self.host.instance_dir(sid).mkdir(parents=True, exist_ok=True, mode=0o700)
        dspec = DomainSpec(
            server_id=sid,
            name=server.name or sid,
            vcpus=_resolved(spec.vcpus, server),
            ram_mb=_resolved(spec.ram_mb, server),
            boot=boot,
            disks=tuple(disks),
            nics=tuple(_nic(b) for b in bindings),
            config_drive=drive,
            console_log=self.host.console_path(sid),
            info=_instance_info(server, spec, ports),
        )
        running = domain is not None and domain.state == DomainState.RUNNING
        if running and not rebuild:
            await self._hotplug(sid, disks, detail)
        detail["volumes"] = {d.volume_id: str(d.path) for d in disks if d.volume_id}
        defined = await self._act(sid, "define", sid, lambda: self.host.compute.define(dspec))
        detail["rebuilds_done"] = spec.rebuilds
        return defined, wiring

    async def _hotplug(self, sid: str, disks: list[DiskSpec], detail: JSON) -> None:
        """Volumes attached or detached while the guest runs (the definition follows)."""
        before: dict[str, str] = detail.get("volumes", {})
        now = {d.volume_id: d for d in disks if d.volume_id}
        for vol_id, path in before.items():
            if vol_id not in now:
                await self._act(
                    sid,
                    "detach_volume",
                    vol_id,
                    partial(self.host.compute.detach_volume, sid, Path(path)),
                )
        for vol_id, disk in now.items():
            if vol_id not in before:
                await self._act(
                    sid,
                    "attach_volume",
                    vol_id,
                    partial(self.host.compute.attach_volume, sid, disk),
                )

    async def _boot_source(self, server: DesiredObject) -> DiskBoot | KernelBoot:
        spec, sid = server.typed(ServerSpec), server.id
        for ref in (spec.image, spec.kernel, spec.ramdisk):
            if ref is not None:
                await self._wait_for_image(ref)
        root = None
        if spec.image:
            image = spec.image
            disk = await self._act(
                sid, "create_root_disk", sid, lambda: self.host.storage.create_root_disk(sid, image)
            )
            root = disk.path
        if spec.kernel:
            kernel = await self.host.storage.get_image(spec.kernel)
            initrd = await self.host.storage.get_image(spec.ramdisk) if spec.ramdisk else None
            return KernelBoot(
                kernel=kernel.path,
                initrd=initrd.path if initrd else None,
                cmdline=spec.kernel_cmdline or "console=ttyS0",
                root_disk=root,
            )
        assert root is not None
        return DiskBoot(root)

    async def _wait_for_image(self, ref: str) -> None:
        """An image the hub placed with a server may still be on its way (pulled)."""
        try:
            await self.host.storage.get_image(ref)
        except (NotFound, InvalidInput) as exc:
            raise TemporaryError(f"image {ref} is not at this site yet", delay=5.0) from exc

    async def _plug(
        self, server: DesiredObject, port: DesiredObject, wiring: _Wiring
    ) -> PortBinding:
        """The port's device made (what the domain is given); its wiring added to ``wiring``."""
        pspec_ = port.typed(PortModel)
        network = await self.store.call(self.store.get_object, "network", pspec_.network)
        net_status = await self.store.call(self.store.get_status, "network", network.id)
        if net_status is None or net_status.state != "ACTIVE":
            raise TemporaryError(f"network {network.name} is not ready yet", delay=1.0)
        subnets = await self.store.call(self.store.list_objects, "subnet", False)
        mine = [s for s in subnets if s.typed(SubnetModel).network == network.id]
        nspec = network_spec(network, mine)
        pspec = port_spec(port)
        device = await self._act(
            server.id,
            "prepare_port",
            port.id,
            lambda: self.host.network.prepare_port(nspec, pspec),
        )
        wiring.add(
            partial(
                self._act,
                server.id,
                "plug_port",
                port.id,
                lambda: self.host.network.plug_port(nspec, pspec),
            )
        )
        return device

    async def _config_drive(self, server: DesiredObject, ports: list[DesiredObject]) -> Path:
        nets = []
        for port in ports:
            pspec = port.typed(PortModel)
            network = await self.store.call(self.store.get_object, "network", pspec.network)
            addresses: tuple[str, ...] = ()
            gateway: str | None = None
            dns: tuple[str, ...] = ()
            if pspec.subnet:
                subnet = await self.store.call(self.store.get_object, "subnet", pspec.subnet)
                sspec = subnet.typed(SubnetModel)
                prefix = ipaddress.ip_network(sspec.cidr).prefixlen
                addresses = (f"{pspec.ip}/{prefix}",)
                gateway, dns = sspec.gateway, sspec.dns_nameservers
            mtu = network.typed(NetworkModel).mtu
            nets.append(NetworkConfig(pspec.mac or "", addresses, gateway, dns, mtu))
        spec = server.typed(ServerSpec)
        cd = ConfigDriveSpec(
            instance_id=server.id,
            hostname=server.name or server.id,
            ssh_keys=spec.ssh_keys,
            user_data=spec.user_data,
            networks=tuple(nets),
        )
        path = self.host.config_drive_path(server.id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return await self._act(
            server.id,
            "config_drive",
            str(path),
            lambda: self.host.compute.build_config_drive(cd, path),
        )

    # -- power -------------------------------------------------------------------------------
    async def _power(
        self, server: DesiredObject, domain: DomainStatus, detail: JSON, fresh: bool
    ) -> _Outcome:
        """Start, stop, reboot or restart by policy; what the server then is (not recorded
        here: the caller records it with what else the pass did)."""
        spec, sid, now = server.typed(ServerSpec), server.id, self.clock()
        running = domain.state in (
            DomainState.RUNNING,
            DomainState.PAUSED,
            DomainState.SHUTTING_DOWN,
        )
        detail["reboots_done"] = detail.get("reboots_done", 0)
        if spec.power == "stopped":
            if running:
                await self._act(sid, "stop", sid, lambda: self.host.compute.stop(sid))
            return _Outcome("SHUTOFF", "", {**detail, "power_state": "shutoff"})
        if running:
            if spec.reboots > detail["reboots_done"]:
                hard = spec.reboot_hard
                await self._act(
                    sid, "reboot", sid, lambda: self.host.compute.reboot(sid, hard=hard)
                )
                detail["reboots_done"] = spec.reboots
            if (
                detail.get("restarts")
                and now - detail.get("started_at", now) >= self.backoff.stable_after
            ):
                detail["restarts"] = 0
            return _Outcome(
                status_of(domain.state), "", {**detail, "power_state": str(domain.state)}
            )
        kind = "none" if fresh else exit_kind(domain.reason)
        policy = spec.restart_policy
        if not should_restart(policy, kind):
            return _Outcome(
                "CRASHED" if kind == "crash" else "SHUTOFF",
                f"guest stopped ({domain.reason}); restart policy {policy} leaves it off",
                {**detail, "power_state": "shutoff"},
            )
        if kind != "none":
            restarts = int(detail.get("restarts", 0))
            ready_at = float(detail.get("restarted_at", 0.0)) + self.backoff.delay(restarts)
            if now < ready_at:
                return _Outcome(
                    "CRASHED" if kind == "crash" else "SHUTOFF",
                    f"restarting in {ready_at - now:.0f}s (restart {restarts + 1})",
                    detail,
                    again=ready_at - now,
                )
            await self._restarting(server, domain, detail, restarts, now)
        await self._act(sid, "start", sid, lambda: self.host.compute.start(sid))
        detail.update(reboots_done=spec.reboots, started_at=now, power_state="running")
        return _Outcome("ACTIVE", "", detail)

    async def _restarting(
        self, server: DesiredObject, domain: DomainStatus, detail: JSON, restarts: int, now: float
    ) -> None:
        """Count a restart by policy, and tell the hub of this local heal (it changes no
        intent, so it holds nothing)."""
        sid = server.id
        restarts_total = int(detail.get("restarts_total", 0)) + 1  # never reset: /metrics
        detail.update(restarts=restarts + 1, restarted_at=now, restarts_total=restarts_total)
        record = operation_body(
            "action", "server", sid, server.hub_revision, None, at=now, actor="reconciler",
            action="restart",
        )  # fmt: skip
        why = f"guest stopped ({domain.reason}): restart {restarts + 1}"
        await self.store.call(
            self.store.queue_facts,
            [("operation", record), ("event", event("server", sid, "restarted", why, now))],
            kind="server",
            obj_id=sid,
        )
        log.info(
            "server %s stopped (%s): restart %d by policy %s",
            server.name,
            domain.reason,
            restarts + 1,
            server.typed(ServerSpec).restart_policy,
        )

    # -- teardown ----------------------------------------------------------------------------
    async def teardown(self, server: DesiredObject, *, purge: bool) -> None:
        # reads the stored spec as it is, not the typed model: a spec that no longer loads
        # (damaged, or from a newer agent) must still be deletable
        sid = server.id
        await self._act(sid, "delete_domain", sid, lambda: self.host.compute.delete(sid))
        for port_id in server.spec.get("ports", []):
            await self._act(
                sid, "unplug_port", port_id, partial(self.host.network.unplug_port, port_id)
            )
        await self._act(
            sid, "delete_root_disk", sid, lambda: self.host.storage.delete_root_disk(sid)
        )

        async def remove_files() -> None:
            await asyncio.to_thread(self.host.remove_instance_dir, sid)

        await self._act(sid, "remove_files", str(self.host.instance_dir(sid)), remove_files)
        if purge:
            await self.store.call(self.store.purge_server, sid, list(server.spec.get("ports", [])))


def _resolved(value: int | None, server: DesiredObject) -> int:
    """A size the site filled in when it accepted the server (never missing once stored)."""
    if value is None:
        raise PermanentError(f"server {server.id} was stored without its flavor's size")
    return value


def _instance_info(
    server: DesiredObject, spec: ServerSpec, ports: list[DesiredObject]
) -> InstanceInfo:
    """What the domain's metadata says about the server (Nova's ``nova:instance``)."""
    infos = []
    for port in ports:
        model = port.typed(PortModel)
        ips = (model.ip,) if model.ip else ()
        infos.append(PortInfo(port.id, model.network, model.mac or "", ips))
    return InstanceInfo(
        flavor=spec.flavor,
        project_id=server.project_id or "",
        origin=server.origin,
        created_at=server.created,
        image=spec.image,
        ports=tuple(infos),
    )


def _nic(binding: PortBinding) -> NicSpec:
    if binding.vnic_type == "direct":
        return NicSpec(
            binding.mac, hostdev_pci=binding.pci_address, vlan=binding.vlan, mtu=binding.mtu
        )
    return NicSpec(binding.mac, tap=binding.tap_name, mtu=binding.mtu)
