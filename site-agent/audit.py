"""The orphan audit: things on the host carrying our tags with no desired object.

Found by listing what each driver says is ours (domains with our server-id metadata, ports
with our owner tag, networks, root disks, volumes, snapshots) and the instance directories,
then comparing with the desired objects in the store. The drivers are listed FIRST and the
store read after, and the audit runs inside the reconciler's task (so no driver action runs
concurrently): a thing made for an object created meanwhile can therefore never be
mistaken for an orphan. Every removal is journaled (kind ``audit``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from atoll.site_agent.drivers.storage.base import ObjectKind
from atoll.site_agent.host import Host
from atoll.site_agent.journal import Journal
from atoll.site_agent.store import LocalStore

log = logging.getLogger(__name__)


@dataclass
class AuditReport:
    removed: list[str] = field(default_factory=list)  # "domain <id>", "port <id>", ...
    leases_released: int = 0


async def audit(store: LocalStore, host: Host, journal: Journal) -> AuditReport:
    domains = await host.compute.list()
    ports = await host.network.list_ports()
    networks = await host.network.list_networks()
    owned = await host.storage.list_owned()
    instance_dirs = await asyncio.to_thread(host.instance_ids)

    ids, snapshots, leases_released = await store.call(desired_blocking, store)
    servers, volumes = ids.get("server", set()), ids.get("volume", set())

    report = AuditReport(leases_released=leases_released)

    async def remove(what: str, target: str, fn: Callable[[], Awaitable[None]]) -> None:
        log.warning("audit: removing orphan %s %s (no desired object)", what, target)
        await journal.act("audit", target, f"remove_{what}", target, fn)
        report.removed.append(f"{what} {target}")

    for dom in domains:
        if dom.server_id not in servers:
            await remove("domain", dom.server_id, partial(host.compute.delete, dom.server_id))
    for port in ports:
        if port.port_id not in ids.get("port", set()):
            await remove("port", port.port_id, partial(host.network.unplug_port, port.port_id))
    for net in networks:
        if net not in ids.get("network", set()):
            await remove("network", net, partial(host.network.delete_network, net))
    for item in owned:
        oid = item.object_id
        if item.kind == ObjectKind.ROOT_DISK and oid not in servers:
            await remove("root_disk", oid, partial(host.storage.delete_root_disk, oid))
        elif item.kind == ObjectKind.VOLUME and oid not in volumes:
            await remove("volume", oid, partial(host.storage.delete_volume, oid))
        elif item.kind == ObjectKind.SNAPSHOT and oid not in snapshots:
            await remove("snapshot", oid, partial(host.storage.delete_snapshot, oid))
    for sid in sorted(instance_dirs - servers):
        await remove("files", sid, partial(_remove_dir, host, sid))
    return report


def desired_blocking(store: LocalStore) -> tuple[dict[str, set[str]], set[str], int]:
    """The desired objects' ids by kind and the volume snapshots (``<volume id>.<name>``;
    only volumes' specs are read), with the orphan address leases released (leases are the
    store's own: no driver is involved), in one trip to the store's thread."""
    ids: dict[str, set[str]] = {}
    for kind, oid in store.object_keys():
        ids.setdefault(kind, set()).add(oid)
    snapshots = {
        f"{o.id}.{name}"
        for o in store.list_objects("volume")
        for name in o.spec.get("snapshots", [])
    }
    return ids, snapshots, store.release_orphan_leases()


async def _remove_dir(host: Host, server_id: str) -> None:
    await asyncio.to_thread(host.remove_instance_dir, server_id)
