"""A site agent core over the drivers' in-memory fakes and a real SQLite store.

``Site.restart()`` is what a ``kill -9`` and a new agent process look like to the core: a
fresh store connection, journal and reconciler, the same host (the fakes' state is the
host's state, which survives the agent dying).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atoll.site_agent.catalog import StorageCatalog
from atoll.site_agent.drivers.compute.fake import FakeCompute
from atoll.site_agent.drivers.network.fake import FakeNetwork
from atoll.site_agent.drivers.storage.fake import FakeStorage
from atoll.site_agent.host import Host
from atoll.site_agent.journal import CrashHook, Journal
from atoll.site_agent.reconciler import Reconciler
from atoll.site_agent.resources import Resources
from atoll.site_agent.restart import Backoff
from atoll.site_agent.store import LocalStore

MiB = 1024 * 1024


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    tmp: Path
    compute: FakeCompute
    network: FakeNetwork
    storage: FakeStorage
    host: Host
    clock: Clock
    store: LocalStore = field(init=False)
    resources: Resources = field(init=False)
    reconciler: Reconciler = field(init=False)

    async def open(self, crash_hook: CrashHook | None = None) -> Site:
        self.store = await LocalStore(self.tmp / "agent.db", clock=self.clock).open()
        self.resources = Resources(self.store, StorageCatalog(self.storage))
        await self.store.call(self.resources.seed_blocking)
        journal = Journal(self.store, crash_hook)
        self.reconciler = Reconciler(
            self.store,
            self.host,
            journal=journal,
            backoff=Backoff(2.0, 60.0, 600.0),
            clock=self.clock,
        )
        return self

    async def restart(self, crash_hook: CrashHook | None = None) -> None:
        """The agent died (its in-flight work is lost) and a new one starts on the same host."""
        await self.store.close()
        await self.open(crash_hook)
        await self.reconciler.recover()

    async def converge(self, passes: int = 3) -> None:
        for _ in range(passes):
            await self.reconciler.reconcile_once()

    async def close(self) -> None:
        await self.store.close()
        await self.compute.close()

    # -- what is on the host ------------------------------------------------------------
    async def domains(self) -> dict[str, Any]:
        return {d.server_id: d for d in await self.compute.list()}

    async def residue(self) -> dict[str, list[str]]:
        """Everything of ours on the host except cached images."""
        owned = [o for o in await self.storage.list_owned() if o.kind != "image"]
        return {
            "domains": sorted(await self.domains()),
            "ports": [p.port_id for p in await self.network.list_ports()],
            "devices": sorted(self.network.stray),  # made for a port, wired to nothing
            "networks": await self.network.list_networks(),
            "storage": [f"{o.kind}:{o.object_id}" for o in owned],
            "instance_dirs": sorted(self.host.instance_ids()),
        }


async def make_site(tmp: Path, crash_hook: CrashHook | None = None, sriov_vfs: int = 0) -> Site:
    compute = FakeCompute(stop_timeout=0.05)
    network = FakeNetwork(
        physical_networks={"physnet1": "eth9"},
        sriov_vfs={"physnet1": sriov_vfs} if sriov_vfs else None,
    )
    await network.start()
    storage = FakeStorage(root=tmp / "storage")
    storage.preload_image("cirros", 16 * MiB)
    host = Host(compute, network, storage, tmp / "instances")
    site = Site(tmp, compute, network, storage, host, Clock())
    return await site.open(crash_hook)


async def lan(site: Site, cidr: str = "10.0.0.0/24") -> str:
    await site.resources.create_network({"name": "lan"})
    await site.resources.create_subnet(
        {"network": "lan", "cidr": cidr, "gateway": cidr.rsplit(".", 1)[0] + ".1"}
    )
    return "lan"
