"""``Agent``: the site agent wired together, and ``run(settings)``, the process's main loop.

:meth:`Agent.open` takes a :class:`~.host.Host` (real drivers from :func:`real_host`, or the
drivers' fakes in tests), opens the store, makes the admin credential at first start,
recovers what a crash left in flight and starts the reconciler and telemetry; ``app`` is
the local API. The agent needs no hub: everything here works on a site that never met one.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from aiohttp import web

from atoll import __version__, listening
from atoll.errors import ConfigError, TemporaryError
from atoll.passwords import Passwords
from atoll.private_files import private_dir, private_files, restrict_umask, sqlite_files
from atoll.site_agent import libvirtd, malloc
from atoll.site_agent.alarms import SiteAlarms
from atoll.site_agent.api.app import build_app
from atoll.site_agent.api.context import ApiContext
from atoll.site_agent.auth import HUB_KEY_FILE, Authenticator
from atoll.site_agent.capacity import AllocationRatios, HostCapacity
from atoll.site_agent.catalog import StorageCatalog, server_images
from atoll.site_agent.console import Consoles
from atoll.site_agent.host import Host
from atoll.site_agent.hub_attachment import HubAttachment
from atoll.site_agent.hub_link import HubLink
from atoll.site_agent.reconciler import Reconciler
from atoll.site_agent.resources import Resources
from atoll.site_agent.restart import Backoff
from atoll.site_agent.ring import Ring
from atoll.site_agent.settings import AgentSettings, SiteAgentSettings
from atoll.site_agent.store import DeletesKept, LocalStore
from atoll.site_agent.telemetry import Telemetry
from atoll.throttle import FailureThrottle

if TYPE_CHECKING:
    from atoll.site_agent.sync.session import SyncClient

log = logging.getLogger(__name__)
READY_TIMEOUT = 5.0  # seconds a dependency may take to answer /readyz


async def real_host(settings: SiteAgentSettings) -> Host:
    """libvirt compute, OVS networking and local qcow2 storage, as the settings say."""
    from atoll.site_agent.drivers.compute.libvirt import LibvirtCompute
    from atoll.site_agent.drivers.network.ovs import OvsNetwork
    from atoll.site_agent.drivers.storage.local import LocalStorage

    if settings.compute.start_libvirtd and settings.compute.uri.startswith("qemu:///"):
        await asyncio.to_thread(libvirtd.ensure_running)
    compute = LibvirtCompute(settings.compute)
    network = OvsNetwork(settings.network)
    await _start_network(network, settings.network.ovsdb_remote)
    return Host(
        compute,
        network,
        LocalStorage(settings.storage),
        settings.site_agent.instances_dir,
        physical_networks=settings.network.mappings("physical_networks"),
    )


async def fake_host(settings: SiteAgentSettings) -> Host:
    """The drivers' in-memory fakes (``[site_agent] drivers = "fake"``): a simulated site that
    speaks the real API and sync protocol and runs nothing."""
    from atoll.site_agent.drivers.compute.fake import FakeCompute
    from atoll.site_agent.drivers.network.fake import FakeNetwork
    from atoll.site_agent.drivers.storage.fake import FakeStorage

    agent = settings.site_agent
    network = FakeNetwork()
    await network.start()
    return Host(
        FakeCompute(hostname=agent.site_name),
        network,
        FakeStorage(
            root=agent.data_dir / "fake-storage",
            max_image_virtual_bytes=settings.storage.image_virtual_max_bytes,
        ),
        agent.instances_dir,
    )


async def _start_network(network: Any, remote: str, patience: float = 60.0) -> None:
    """OVS may come up after the agent at boot: retry for a while, logging once."""
    deadline = time.monotonic() + patience
    warned = False
    while True:
        try:
            await network.start()
            if warned:
                log.info("OVS at %s is reachable now", remote)
            return
        except TemporaryError as exc:
            if time.monotonic() > deadline:
                raise
            if not warned:
                log.warning("OVS at %s is not ready (%s); retrying", remote, exc.message)
                warned = True
            await asyncio.sleep(2.0)


def allocation_ratios(settings: SiteAgentSettings) -> AllocationRatios:
    return AllocationRatios(
        cpu=settings.compute.cpu_allocation_ratio,
        ram=settings.compute.ram_allocation_ratio,
        disk=settings.storage.disk_allocation_ratio,
        reserved_host_memory_mb=settings.compute.reserved_host_memory_mb,
    )


def _private_data(settings: AgentSettings, host: Host) -> None:
    """The data dir and instance dirs 0700, the database (signing key), hub key and
    config drives (user data) 0600: also on an install made before these modes were kept."""
    private_dir(settings.data_dir)
    private_files([*sqlite_files(settings.db_path), settings.data_dir / HUB_KEY_FILE])
    private_dir(host.instances_dir)
    for server_id in host.instance_ids():
        private_dir(host.instance_dir(server_id))
        private_files([host.config_drive_path(server_id), host.console_path(server_id)])


async def _hub_link(data_dir: Path) -> HubLink | None:
    """The joined hub, if any; a broken link leaves the agent running on its own, said once."""
    try:
        return await asyncio.to_thread(HubLink.load, data_dir)
    except ConfigError as exc:
        log.error("not syncing with the hub: %s", exc.message)
        return None


@dataclass
class Agent:
    settings: SiteAgentSettings
    host: Host
    store: LocalStore
    auth: Authenticator
    resources: Resources
    reconciler: Reconciler
    telemetry: Telemetry
    app: web.Application
    started_at: float
    hub: HubAttachment | None = None  # the zeroconf advert, or, once joined, the hub link
    sync: SyncClient | None = None  # the sync session, once the site has joined a hub
    alarms: SiteAlarms | None = None  # site-scope alarm rules the hub placed here

    @classmethod
    async def open(cls, settings: SiteAgentSettings, host: Host, out: TextIO = sys.stdout) -> Agent:
        agent_settings = settings.site_agent
        await asyncio.to_thread(_private_data, agent_settings, host)
        kept = DeletesKept(
            settings.hub.sync_deletes_kept, settings.hub.sync_deletes_kept_days * 86400.0
        )
        store = await LocalStore(agent_settings.db_path, deletes_kept=kept).open()
        auth = Authenticator(
            store,
            agent_settings.data_dir,
            ttl=agent_settings.token_ttl,
            passwords=Passwords(
                workers=agent_settings.password_workers, queue=agent_settings.password_queue
            ),
            throttle=FailureThrottle(
                time.time,
                per_source=agent_settings.login_failures_per_source,
                per_source_user=agent_settings.login_failures_per_source_user,
                window=agent_settings.login_failure_window,
                refusal_delay=agent_settings.login_refusal_delay,
            ),
        )
        secret = await store.call(auth.bootstrap_blocking)
        if secret is not None:
            out.write(
                "local admin credential (shown once; exchange it at POST /v1/auth/tokens):\n"
                f"  name: admin\n  secret: {secret}\n"
            )
            out.flush()
        backoff = Backoff(
            agent_settings.restart_backoff_initial, agent_settings.restart_backoff_max
        )
        reconciler = Reconciler(
            store,
            host,
            backoff=backoff,
            interval=agent_settings.reconcile_interval,
            audit_interval=agent_settings.audit_interval,
        )
        catalog = StorageCatalog(
            host.storage, pinned=server_images(store), import_dir=settings.storage.image_import_dir
        )
        resources = Resources(
            store,
            catalog,
            agent_settings.restart_policy,
            kick=reconciler.kick,
            physical_networks=host.physical_networks.keys(),
            capacity=HostCapacity(host.compute, host.storage, allocation_ratios(settings)),
            site_name=agent_settings.site_name,
        )
        await store.call(resources.seed_blocking)
        ring = Ring(store, settings.telemetry.raw_retention, settings.telemetry.rollup_retention)
        telemetry = Telemetry(
            host,
            ring,
            agent_settings.data_dir,
            settings.telemetry.interval,
            passes=lambda: reconciler.passes,
        )
        link = await _hub_link(agent_settings.data_dir)
        agent = cls(
            settings,
            host,
            store,
            auth,
            resources,
            reconciler,
            telemetry,
            web.Application(),
            time.time(),
        )
        ctx = ApiContext(
            resources=resources,
            auth=auth,
            images=catalog,
            console=lambda sid, tail: host.compute.read_console(sid, tail),
            health=agent.health,
            ready=agent.ready,
            metrics=telemetry.render,
            metrics_auth=agent_settings.metrics_auth,
            request_read_timeout=agent_settings.request_read_timeout,
        )
        agent.app = build_app(ctx)
        hub_settings = settings.hub

        def make_sync(joined: HubLink) -> SyncClient:
            # Imported once the site has joined: an unjoined agent does not hold the sync
            # session's modules (frames, codec, msgpack, window, inbox, facts).
            from atoll.site_agent.hub_intent import HubIntent
            from atoll.site_agent.sync.session import SyncClient, SyncSettings

            return SyncClient(
                joined,
                store,
                HubIntent(resources),
                ring,
                SyncSettings(
                    reconnect_initial=hub_settings.sync_reconnect_initial,
                    reconnect_max=hub_settings.sync_reconnect_max,
                    telemetry_interval=hub_settings.sync_telemetry_interval,
                ),
                usage=resources.usage,
                consoles=Consoles(resources, ctx.console),  # as the local API reads it
            )

        async def attached(joined: HubLink) -> None:
            """A join while running: the sync session starts too, without a restart."""
            if agent.sync is None:
                agent.sync = make_sync(joined)
                telemetry.extra = agent.sync_samples
                await agent.sync.start()

        if link is not None:
            agent.sync = make_sync(link)
            telemetry.extra = agent.sync_samples
        agent.hub = HubAttachment(settings, host.storage, store, auth, on_attach=attached)
        agent.alarms = SiteAlarms(store, ring, settings.telemetry.alarm_interval)
        return agent

    async def start(self) -> None:
        await self.reconciler.start()
        await self.telemetry.start()
        if self.alarms is not None:
            await self.alarms.start()
        if self.sync is not None:
            await self.sync.start()
        if self.hub is not None:
            await self.hub.start()

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.stop()
        if self.sync is not None:
            await self.sync.stop()
        if self.alarms is not None:
            await self.alarms.stop()
        await self.telemetry.stop()
        await self.reconciler.stop()
        await self.host.compute.close()
        await self.host.network.close()
        await self.store.close()
        self.auth.passwords.close()

    async def health(self) -> dict[str, Any]:
        error = self.reconciler.last_error
        return {
            "status": "degraded" if error else "ok",
            "site": self.settings.site_agent.site_name,
            "version": __version__,
            "joined_hub": self.auth.joined,
            "reconcile_passes": self.reconciler.passes,
            "last_error": error,
            "uptime_s": round(time.time() - self.started_at, 1),
            "sync": await self._sync_health(),
        }

    async def ready(self) -> dict[str, Any]:
        """Whether the agent can do its work now: its store answers and so does the
        hypervisor (``/readyz``; no token, so check names only, the log has the errors)."""
        checks = {
            "store": self.store.call(self.store.last_seq),
            "hypervisor": self.host.compute.host_info(),
        }
        report: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check, READY_TIMEOUT)
                report[name] = "ok"
            except Exception as exc:  # any failure means: not ready
                log.warning("not ready: the %s does not answer: %s", name, exc)
                report[name] = "failing"
        ok = all(v == "ok" for v in report.values())
        return {"status": "ok" if ok else "unavailable", "checks": report}

    async def _sync_health(self) -> dict[str, Any] | None:
        """The sync figures ``/health`` shows (no token: no hub address, no error text)."""
        if self.sync is None:
            return None
        f = await self.sync.figures()
        keys = ("connected", "last_ack_at", "outbox_depth", "inbox_depth", "applied_revision",
                "acked_seq")  # fmt: skip
        return {k: f[k] for k in keys}

    async def sync_samples(self) -> list[tuple[str, float, str]]:
        """Sync figures as metrics (``atoll_sync_*``)."""
        if self.sync is None:
            return []
        f = await self.sync.figures()
        return [
            ("sync_connected", float(f["connected"]), "1 while the sync session is open"),
            ("sync_outbox_depth", f["outbox_depth"], "facts waiting for the hub's ack"),
            ("sync_inbox_depth", f["inbox_depth"], "hub changes persisted, not applied"),
            ("sync_applied_revision", f["applied_revision"], "newest hub revision persisted"),
            ("sync_acked_seq", f["acked_seq"], "newest fact seq the hub acked"),
            ("sync_last_ack_timestamp_seconds", f["last_ack_at"] or 0.0, "when the hub last acked"),
            ("sync_changes_applied_total", f["changes_applied"], "hub changes applied"),
        ]


async def serve(settings: SiteAgentSettings, stop: asyncio.Event | None = None) -> None:
    """Run the agent until SIGTERM/SIGINT (or ``stop`` is set)."""
    restrict_umask()  # everything the agent and its children write is private
    malloc.limit_arenas()  # before the first worker thread
    ssl_context = listening.server_tls(
        settings.site_agent.host,
        settings.site_agent.tls_cert_file,
        settings.site_agent.tls_key_file,
        insecure=settings.site_agent.insecure,
        fix="set tls_cert_file and tls_key_file under [site_agent] (or --tls-cert-file and "
        "--tls-key-file) to serve HTTPS, or pass --insecure to accept plain HTTP",
    )
    gate = listening.HandshakeGate(listening.HandshakeLimits.of(settings.site_agent))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    fake = settings.site_agent.drivers == "fake"
    host = await (fake_host(settings) if fake else real_host(settings))
    agent = await Agent.open(settings, host)
    # a connection that has not sent a request's headers within request_read_timeout of
    # opening (or of its last answer) is closed (atoll.api.slow_clients)
    timeout = settings.site_agent.request_read_timeout
    runner = web.AppRunner(agent.app, access_log=None, keepalive_timeout=timeout)
    try:
        await agent.start()
        await runner.setup()
        listening.small_tls_reads(runner)
        listening.anonymous_server_header()
        listen = settings.site_agent
        agent.telemetry.add_collector(gate)
        site = listening.tcp_site(runner, listen.host, listen.port, ssl_context, gate)
        await listening.start_listening(site, listen.host, listen.port, "--port/--host")
        gc.collect()  # start-up's garbage in cycles (the CLI's parsers, import-time objects)
        malloc.trim()  # and the pages it freed, with recovery's and the first pass's
        log.info(
            "site agent %s listening on %s://%s:%d",
            listen.site_name,
            "http" if ssl_context is None else "https",
            listen.host,
            listen.port,
        )
        await stop.wait()
    finally:
        await runner.cleanup()
        await agent.close()
