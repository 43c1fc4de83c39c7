"""Driving volumes to their desired spec: create, extend, snapshot, delete.

Sizes are whole GiB in the spec. Snapshots are named in the spec (``snapshots``); the storage
driver keeps each under the id ``<volume_id>.<name>``. Attachments live in server specs (the server
converger puts volume paths into the domain definition).
"""

from __future__ import annotations

import logging
from functools import partial

from atoll.errors import AtollError, NotFound, TemporaryError
from atoll.resources import VolumeSpec
from atoll.site_agent.host import GiB, Host
from atoll.site_agent.journal import Journal
from atoll.site_agent.store import DesiredObject, LocalStore

log = logging.getLogger(__name__)


def snapshot_id(volume_id: str, name: str) -> str:
    """Snapshot ids are site-wide in the storage driver; names are per volume in the spec."""
    return f"{volume_id}.{name}"


class VolumeConverger:
    def __init__(self, store: LocalStore, host: Host, journal: Journal) -> None:
        self.store = store
        self.host = host
        self.journal = journal

    async def ensure_all(self) -> None:
        """Create, extend and snapshot live volumes (before servers use them)."""
        for vol in await self.store.call(self.store.list_objects, "volume"):
            if vol.deleting:
                continue
            try:
                await self._ensure(vol)
            except TemporaryError as exc:
                await self._set(vol, "CREATING", f"waiting: {exc.message}")
            except AtollError as exc:
                log.warning("volume %s (%s) failed: %s", vol.name, vol.id, exc.message)
                await self._set(vol, "ERROR", exc.message)

    async def delete_pending(self) -> None:
        """Delete volumes being deleted, once no server's guest still has them attached."""
        statuses = await self.store.call(self.store.statuses, "server")
        in_use = {v for st in statuses.values() for v in st.detail.get("volumes", {})}
        for vol in await self.store.call(self.store.list_objects, "volume"):
            if not vol.deleting:
                continue
            if vol.id in in_use:
                await self._set(vol, "DETACHING", "waiting for the guest to release it")
                continue
            try:
                await self._delete(vol)
            except TemporaryError as exc:
                await self._set(vol, "DELETING", f"waiting: {exc.message}")
            except AtollError as exc:
                log.warning("volume %s (%s) cannot be deleted: %s", vol.name, vol.id, exc.message)
                await self._set(vol, "ERROR", exc.message)

    async def _set(
        self, vol: DesiredObject, state: str, message: str = "", **detail: object
    ) -> None:
        await self.store.call(
            self.store.set_status, "volume", vol.id, state,
            observed_generation=vol.generation, message=message, detail=dict(detail),
        )  # fmt: skip

    async def _ensure(self, vol: DesiredObject) -> None:
        status = await self.store.call(self.store.get_status, "volume", vol.id)
        if status and status.observed_generation == vol.generation and status.state != "CREATING":
            return
        spec = vol.typed(VolumeSpec)
        vid, size = vol.id, spec.size_gb * GiB
        storage = self.host.storage
        try:
            disk = await storage.get_volume(vid)
        except NotFound:
            disk = await self.journal.act(
                "volume", vid, "create_volume", vid, lambda: storage.create_volume(vid, size)
            )
        if disk.virtual_size_bytes < size:
            disk = await self.journal.act(
                "volume", vid, "extend_volume", vid, lambda: storage.extend_volume(vid, size)
            )
        have = {s.snapshot_id for s in await storage.list_snapshots(vid)}
        for name in spec.snapshots:
            if snapshot_id(vid, name) not in have:
                await self.journal.act(
                    "volume", vid, "snapshot", snapshot_id(vid, name),
                    partial(storage.snapshot_volume, vid, snapshot_id(vid, name)),
                )  # fmt: skip
        state = "IN-USE" if spec.server else "AVAILABLE"
        await self._set(vol, state, path=str(disk.path), allocated_bytes=disk.allocated_bytes)

    async def _delete(self, vol: DesiredObject) -> None:
        vid, storage = vol.id, self.host.storage
        for snap in await storage.list_snapshots(vid):
            await self.journal.act(
                "volume", vid, "delete_snapshot", snap.snapshot_id,
                partial(storage.delete_snapshot, snap.snapshot_id),
            )  # fmt: skip
        await self.journal.act(
            "volume", vid, "delete_volume", vid, lambda: storage.delete_volume(vid)
        )
        await self.store.call(self.store.purge_object, "volume", vid)
