"""The reconciler: one loop that drives what runs on this host to the desired spec.

A pass (:meth:`Reconciler.reconcile_once`) goes: networks ensured, volumes ensured, every
server ensured (or torn down when deleting), then volumes and networks being deleted removed
(after the servers, so nothing is deleted under a guest still using it).
Passes run when something changed (:meth:`kick`: the API, a lifecycle event), when a
server asked to be looked at again (restart backoff, a temporary error), and every
``interval`` seconds anyway. Every ``audit_interval`` the orphan audit runs in the same
task, so it never races a driver action. The loop is an :class:`atoll.background.Loop`: a
failing pass is logged once and its recovery once, and :meth:`stop` lets a pass finish.

Start-up order (:meth:`start`): resolve the journal's open intents (:mod:`.recovery`),
subscribe to domain lifecycle events, run the audit once, then loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from atoll.background import Loop, LoopSettings
from atoll.errors import AtollError
from atoll.site_agent import malloc
from atoll.site_agent.audit import AuditReport, audit
from atoll.site_agent.converge_networks import NetworkConverger
from atoll.site_agent.converge_servers import ServerConverger, status_of
from atoll.site_agent.converge_volumes import VolumeConverger
from atoll.site_agent.drivers.compute.base import DomainEvent
from atoll.site_agent.host import Host
from atoll.site_agent.journal import Journal
from atoll.site_agent.recovery import recover
from atoll.site_agent.restart import Backoff
from atoll.site_agent.store import LocalStore

log = logging.getLogger(__name__)
JOURNAL_KEEP = 86400.0  # finished journal rows are kept this long (seconds), for people
SOONEST = 0.05  # the shortest wait between passes a server's "look again" can ask for


class Reconciler:
    def __init__(
        self,
        store: LocalStore,
        host: Host,
        *,
        journal: Journal | None = None,
        backoff: Backoff | None = None,
        interval: float = 5.0,
        audit_interval: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.host = host
        self.journal = journal or Journal(store)
        self.interval = interval
        self.audit_interval = audit_interval
        self.clock = clock
        self.servers = ServerConverger(store, host, self.journal, backoff or Backoff(), clock)
        self.networks = NetworkConverger(store, host, self.journal)
        self.volumes = VolumeConverger(store, host, self.journal)
        self._loop = Loop(
            "site-reconciler", self._pass, LoopSettings(interval=interval), logger=log
        )
        self._last_audit = 0.0
        self.last_pass_at = 0.0

    @property
    def passes(self) -> int:
        """Passes of the loop that succeeded since start."""
        return self._loop.passes

    @property
    def last_error(self) -> str:
        """Why the latest pass failed; ``""`` when it succeeded."""
        return self._loop.last_error

    def kick(self) -> None:
        """Ask for a pass soon (safe to call from any coroutine on the loop)."""
        self._loop.kick()

    async def reconcile_once(self) -> float | None:
        """One full pass; returns the soonest time (seconds) some server wants a new look."""
        await self.networks.ensure_all()
        await self.volumes.ensure_all()
        domains = {d.server_id: d for d in await self.host.compute.list()}
        soonest: float | None = None
        for server in await self.store.call(self.store.list_objects, "server"):
            if server.deleting:
                await self.servers.teardown(server, purge=True)
                continue
            again = await self.servers.ensure(server, domains.get(server.id))
            if again is not None:
                soonest = again if soonest is None else min(soonest, again)
        await self.volumes.delete_pending()
        await self.networks.delete_pending()
        self.last_pass_at = self.clock()
        return soonest

    async def audit(self) -> AuditReport:
        """The orphan audit, and finished journal rows older than a day pruned."""
        self._last_audit = self.clock()
        report = await audit(self.store, self.host, self.journal)
        await self.store.call(self.store.journal_prune, self._last_audit - JOURNAL_KEEP)
        return report

    async def recover(self) -> int:
        return await recover(self.store, self.host, self.journal)

    async def on_event(self, event: DomainEvent) -> None:
        """A domain lifecycle event: record the new state now, and let the loop act on it."""
        try:
            obj = await self.store.call(self.store.get_object, "server", event.server_id)
        except AtollError:
            return
        status = await self.store.call(self.store.get_status, "server", event.server_id)
        if obj.deleting or (status is not None and status.state in ("ERROR", "BUILDING")):
            self.kick()
            return
        await self.store.call(
            self.store.set_status, "server", event.server_id, status_of(event.state),
            detail={"power_state": str(event.state), "last_event": f"{event.kind}/{event.detail}"},
        )  # fmt: skip
        self.kick()

    async def start(self) -> None:
        resolved = await self.recover()
        if resolved:
            log.info("recovered %d journal entries left in flight by a crash", resolved)
        await self.host.compute.subscribe(self.on_event)
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _pass(self) -> float | None:
        """The audit when it is due, then a reconcile pass; when to look again."""
        if self.clock() - self._last_audit >= self.audit_interval:
            report = await self.audit()
            if report.removed:
                log.warning("audit removed %d orphans: %s", len(report.removed), report.removed)
        soonest = await self.reconcile_once()
        malloc.trim()  # a pass that built or tore down servers leaves freed pages behind
        return None if soonest is None else max(soonest, SOONEST)
