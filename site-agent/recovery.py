"""Finishing or undoing what a crashed agent left in flight (journal rows still ``intent``).

Run once at start, before the first reconcile pass. For each open intent:

- the object is still desired (and not being deleted): nothing to do here; the next
  reconcile pass repeats the same idempotent step, which finishes it;
- the object is gone or being deleted: the step's target is undone (domain deleted, port
  unplugged, root disk or volume deleted, files removed, network deleted), so no half-made
  thing survives; undo actions are idempotent too.

Either way the row is marked ``recovered`` with what was done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from atoll.errors import NotFound
from atoll.site_agent.host import Host
from atoll.site_agent.journal import Journal
from atoll.site_agent.store import JournalEntry, LocalStore

log = logging.getLogger(__name__)


def _undo(host: Host, entry: JournalEntry) -> Callable[[], Awaitable[None]] | None:
    action, obj_id, target = entry.action, entry.obj_id, entry.target
    if action in (
        "define",
        "start",
        "stop",
        "reboot",
        "rebuild",
        "delete_domain",
        "attach_volume",
        "detach_volume",
    ):
        return lambda: host.compute.delete(obj_id)
    if action in ("prepare_port", "plug_port", "unplug_port"):
        return lambda: host.network.unplug_port(target)
    if action in ("create_root_disk", "delete_root_disk"):
        return lambda: host.storage.delete_root_disk(obj_id)
    if action in ("config_drive", "remove_files"):

        async def remove() -> None:
            await asyncio.to_thread(host.remove_instance_dir, obj_id)

        return remove
    if action in ("create_volume", "extend_volume", "delete_volume"):
        return lambda: host.storage.delete_volume(obj_id)
    if action in ("snapshot", "delete_snapshot"):
        return lambda: host.storage.delete_snapshot(target)
    if action in ("ensure_network", "delete_network"):
        return lambda: host.network.delete_network(obj_id)
    return None


async def recover(store: LocalStore, host: Host, journal: Journal) -> int:
    """Resolve every open intent; returns how many there were."""
    entries = await journal.open_intents()
    for entry in entries:
        try:
            obj = await store.call(store.get_object, entry.kind, entry.obj_id)
            alive = not obj.deleting
        except NotFound:
            alive = False
        if alive and entry.kind != "audit":
            await journal.resolve(entry, "still desired: the next reconcile pass finishes it")
            continue
        undo = _undo(host, entry)
        if undo is not None:
            await undo()
        await journal.resolve(entry, "undone" if undo else "nothing to undo")
    return len(entries)
