"""``FakeStorage``: an in-memory storage driver that documents the storage contract.

It keeps the same books as ``LocalStorage`` (see ``base.py`` for the contract) without
writing a byte, so thousands of simulated sites fit in one process:

- Paths are under a root that is never created (``/fake-storage`` by default), laid out
  as the real driver lays out files: ``images/<id>.<fmt>``, ``disks/<server_id>.qcow2``,
  ``volumes/<volume_id>.qcow2``, ``snapshots/<volume_id>@<snapshot_id>.qcow2``.
- ``add_image`` reads the source file (as the real driver does) to verify its sha256 and
  format, from the same places (the format by what needs no qemu-img: the header checks of
  :func:`atoll.images.validate.check_header`, the format the header declares, and
  ``max_image_virtual_bytes``): a file in ``incoming_dir`` (``<root>/tmp``; the fake only
  reads and then removes it, as the real driver moves it), or one outside the root (not
  through a symlink); anything else under the root is refused unread. Simulations that
  have no files use :meth:`preload_image`.
- Allocation is modelled as real qcow2 behaves right after creation: an overlay or a blank
  volume allocates almost nothing (``OVERHEAD_BYTES``), a snapshot or a restored volume is
  a full copy (its source's allocation), an image allocates its file size. Guests writing
  into disks is simulated with :meth:`write`.
- Capacity is ``total_bytes`` (default 1 TiB) with the same overcommit rule.
- The image cache cap (``image_cache_bytes``, 0 = none) evicts as the real driver does
  (:mod:`.eviction`); last use is a counter bumped on add and on root-disk creation, so
  the LRU order is exact. :meth:`preload_image` never evicts (simulations set up freely).
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import itertools
import os
import stat
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

from atoll.errors import AtollError, Problem
from atoll.images.validate import check_header
from atoll.site_agent.drivers.storage import eviction, qcow2
from atoll.site_agent.drivers.storage.base import (
    CachedImage,
    Capacity,
    Disk,
    ImageFormat,
    ObjectKind,
    OwnedObject,
    Snapshot,
)
from atoll.site_agent.drivers.storage.errors import (
    ChecksumMismatch,
    InsufficientSpace,
    InvalidStorageRequest,
    StorageConflict,
    StorageNotFound,
    translate,
)
from atoll.site_agent.drivers.storage.naming import check_id, check_sha256, check_size

OVERHEAD_BYTES = 196_608  # what qemu-img allocates for a fresh qcow2 (header, tables)
TiB = 1024**4


class FakeStorage:
    """In-memory :class:`~.base.StorageDriver`."""

    def __init__(
        self,
        *,
        root: Path = Path("/fake-storage"),
        total_bytes: int = TiB,
        overcommit_ratio: float = 1.0,
        image_cache_bytes: int = 0,
        incoming_dir: Path | None = None,
        max_image_virtual_bytes: int = TiB,
    ) -> None:
        self._root = root
        self._incoming = incoming_dir or root / "tmp"
        self._total = total_bytes
        self._ratio = overcommit_ratio
        self._cache_cap = image_cache_bytes
        self._max_virtual = max_image_virtual_bytes
        self._images: dict[str, CachedImage] = {}
        self._ticks = itertools.count(1)
        self._last_used: dict[str, int] = {}
        self._disks: dict[str, Disk] = {}
        self._volumes: dict[str, Disk] = {}
        self._snapshots: dict[str, Snapshot] = {}

    # -- simulation hooks ---------------------------------------------------------------

    def preload_image(
        self,
        image_id: str,
        size_bytes: int,
        fmt: ImageFormat = "qcow2",
        sha256: str = "",
        virtual_size_bytes: int | None = None,
    ) -> CachedImage:
        """Put an image in the cache without a file (for simulated sites).

        ``size_bytes`` is the file's size; the virtual size defaults to it.
        """
        check_id(image_id, "image_id")
        image = CachedImage(
            image_id,
            self._root / "images" / f"{image_id}.{fmt}",
            fmt,
            size_bytes if virtual_size_bytes is None else virtual_size_bytes,
            size_bytes,
            sha256 or "0" * 64,
        )
        self._images[image_id] = image
        self._last_used[image_id] = next(self._ticks)
        return image

    def write(self, kind: ObjectKind, object_id: str, nbytes: int) -> None:
        """A guest writes ``nbytes`` new bytes into a root disk or volume."""
        table = self._disks if kind == ObjectKind.ROOT_DISK else self._volumes
        disk = table[object_id]
        grown = min(disk.allocated_bytes + nbytes, disk.virtual_size_bytes + OVERHEAD_BYTES)
        table[object_id] = replace(disk, allocated_bytes=grown)

    # -- images -------------------------------------------------------------------------

    @property
    def incoming_dir(self) -> Path:
        """Where a caller writes an image for ``add_image`` (never created by the fake)."""
        return self._incoming

    def _read_source(self, image_id: str, source: Path) -> tuple[bytes, bool]:
        """The source's bytes, and whether it is in ``incoming_dir`` (then the fake's to
        remove); the real driver's rules for where a source may come from."""
        refused = InvalidStorageRequest(
            f"image {image_id} cannot be cached",
            [Problem("source", "must be a regular file in the storage driver's incoming dir")],
        )
        incoming = source.parent.resolve() == self._incoming.resolve()
        if not incoming and source.resolve().is_relative_to(self._root.resolve()):
            raise refused
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise InvalidStorageRequest(
                f"image {image_id} cannot be cached",
                [Problem("source", f"cannot be opened: {exc.strerror or exc}")],
            ) from exc
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or (incoming and st.st_nlink != 1):
                raise refused
            return fh.read(), incoming

    async def add_image(
        self,
        image_id: str,
        source: Path,
        sha256: str,
        *,
        pinned: Collection[str] = (),
        hashed: bool = False,
    ) -> CachedImage:
        check_id(image_id, "image_id")
        check_sha256(sha256)
        existing = self._images.get(image_id)
        if existing is not None:
            if existing.sha256 != sha256:
                raise StorageConflict(f"image {image_id} is cached with another checksum")
            self._last_used[image_id] = next(self._ticks)
            return existing
        data, incoming = await asyncio.to_thread(self._read_source, image_id, source)
        if not (hashed and incoming) and hashlib.sha256(data).hexdigest() != sha256:
            raise ChecksumMismatch(
                f"image {image_id}: the declared sha256 does not match the file's content"
            )
        try:
            check_header(data[: 2 * 1024 * 1024], max_virtual_size=self._max_virtual)
        except AtollError as exc:
            raise translate(exc, f"image {image_id} cannot be cached") from exc
        header = qcow2.parse(data[:65536], len(data))
        uses = [
            eviction.CacheUse(i, img.allocated_bytes, self._last_used.get(i, 0))
            for i, img in self._images.items()
        ]
        in_use = {d.backing_image_id for d in self._disks.values() if d.backing_image_id}
        for victim in eviction.victims(
            uses,
            in_use | set(pinned),
            image_id=image_id,
            incoming_bytes=len(data),
            cap_bytes=self._cache_cap,
        ):
            await self.remove_image(victim)
        if incoming:
            await asyncio.to_thread(source.unlink, True)  # taken over, as the real one moves it
        return self.preload_image(image_id, len(data), header.format, sha256, header.virtual_size)

    async def get_image(self, image_id: str) -> CachedImage:
        image = self._images.get(image_id)
        if image is None:
            raise StorageNotFound(f"image {image_id} is not in the cache")
        return image

    async def list_images(self) -> builtins.list[CachedImage]:
        return [self._images[i] for i in sorted(self._images)]

    async def remove_image(self, image_id: str) -> None:
        users = sorted(d.object_id for d in self._disks.values() if d.backing_image_id == image_id)
        if users:
            raise StorageConflict(
                f"image {image_id} backs the root disks of {', '.join(users)}; delete them first"
            )
        self._images.pop(image_id, None)
        self._last_used.pop(image_id, None)

    # -- root disks ---------------------------------------------------------------------

    async def create_root_disk(
        self, server_id: str, image_id: str, size_bytes: int | None = None
    ) -> Disk:
        check_id(server_id, "server_id")
        image = await self.get_image(image_id)
        size = image.virtual_size_bytes if size_bytes is None else size_bytes
        if size_bytes is not None:
            check_size(size_bytes)
            if size_bytes < image.virtual_size_bytes:
                raise InvalidStorageRequest(
                    f"root disk of {server_id}: {size_bytes} bytes is smaller than image "
                    f"{image_id} ({image.virtual_size_bytes} bytes)"
                )
        self._last_used[image_id] = next(self._ticks)
        existing = self._disks.get(server_id)
        if existing is not None:
            if existing.backing_image_id != image_id or existing.virtual_size_bytes != size:
                raise StorageConflict(f"server {server_id} has a root disk from another request")
            return existing
        self._reserve(size, f"root disk of {server_id}")
        disk = Disk(
            ObjectKind.ROOT_DISK,
            server_id,
            self._root / "disks" / f"{server_id}.qcow2",
            size,
            OVERHEAD_BYTES,
            "qcow2",
            image_id,
        )
        self._disks[server_id] = disk
        return disk

    async def get_root_disk(self, server_id: str) -> Disk:
        disk = self._disks.get(server_id)
        if disk is None:
            raise StorageNotFound(f"server {server_id} has no root disk")
        return disk

    async def delete_root_disk(self, server_id: str) -> None:
        self._disks.pop(server_id, None)

    # -- volumes and snapshots ----------------------------------------------------------

    async def create_volume(
        self, volume_id: str, size_bytes: int, *, snapshot_id: str | None = None
    ) -> Disk:
        check_id(volume_id, "volume_id")
        check_size(size_bytes)
        existing = self._volumes.get(volume_id)
        if existing is not None:  # retries succeed even if the snapshot is gone since
            if existing.virtual_size_bytes != size_bytes:
                raise StorageConflict(f"volume {volume_id} exists with another size")
            return existing
        allocated = OVERHEAD_BYTES
        if snapshot_id is not None:
            snap = self._snapshot(snapshot_id)
            if size_bytes < snap.virtual_size_bytes:
                raise InvalidStorageRequest(
                    f"volume {volume_id}: {size_bytes} bytes is smaller than snapshot "
                    f"{snapshot_id} ({snap.virtual_size_bytes} bytes)"
                )
            allocated = snap.allocated_bytes
        self._reserve(size_bytes, f"volume {volume_id}")
        path = self._root / "volumes" / f"{volume_id}.qcow2"
        disk = Disk(ObjectKind.VOLUME, volume_id, path, size_bytes, allocated)
        self._volumes[volume_id] = disk
        return disk

    async def get_volume(self, volume_id: str) -> Disk:
        disk = self._volumes.get(volume_id)
        if disk is None:
            raise StorageNotFound(f"volume {volume_id} does not exist")
        return disk

    async def list_volumes(self) -> builtins.list[Disk]:
        return [self._volumes[v] for v in sorted(self._volumes)]

    async def extend_volume(self, volume_id: str, size_bytes: int) -> Disk:
        disk = await self.get_volume(volume_id)
        check_size(size_bytes)
        if size_bytes < disk.virtual_size_bytes:
            raise InvalidStorageRequest(
                f"volume {volume_id} has {disk.virtual_size_bytes} bytes; volumes only grow"
            )
        self._reserve(size_bytes - disk.virtual_size_bytes, f"volume {volume_id}")
        disk = replace(disk, virtual_size_bytes=size_bytes)
        self._volumes[volume_id] = disk
        return disk

    async def delete_volume(self, volume_id: str) -> None:
        self._volumes.pop(volume_id, None)

    async def snapshot_volume(self, volume_id: str, snapshot_id: str) -> Snapshot:
        check_id(snapshot_id, "snapshot_id")
        disk = await self.get_volume(volume_id)
        existing = self._snapshots.get(snapshot_id)
        if existing is not None:
            if existing.volume_id != volume_id:
                raise StorageConflict(f"snapshot {snapshot_id} belongs to another volume")
            return existing
        snap = Snapshot(
            snapshot_id,
            volume_id,
            self._root / "snapshots" / f"{volume_id}@{snapshot_id}.qcow2",
            disk.virtual_size_bytes,
            disk.allocated_bytes,
        )
        self._snapshots[snapshot_id] = snap
        return snap

    async def list_snapshots(self, volume_id: str | None = None) -> builtins.list[Snapshot]:
        return [
            self._snapshots[s]
            for s in sorted(self._snapshots)
            if volume_id is None or self._snapshots[s].volume_id == volume_id
        ]

    async def delete_snapshot(self, snapshot_id: str) -> None:
        self._snapshots.pop(snapshot_id, None)

    # -- accounting ---------------------------------------------------------------------

    async def capacity(self) -> Capacity:
        images = sum(i.allocated_bytes for i in self._images.values())
        used = images + sum(o.allocated_bytes for o in await self.list_owned() if o.kind != "image")
        return Capacity(
            total_bytes=self._total,
            free_bytes=max(self._total - used, 0),
            used_bytes=used,
            provisioned_bytes=self._provisioned(),
            images_bytes=images,
            overcommit_ratio=self._ratio,
            images_cap_bytes=self._cache_cap,
        )

    async def list_owned(self) -> builtins.list[OwnedObject]:
        owned = [
            OwnedObject(ObjectKind.IMAGE, i.image_id, i.path, i.allocated_bytes)
            for i in self._images.values()
        ]
        owned += [
            OwnedObject(d.kind, d.object_id, d.path, d.allocated_bytes, d.backing_image_id)
            for d in (*self._disks.values(), *self._volumes.values())
        ]
        owned += [
            OwnedObject(ObjectKind.SNAPSHOT, s.snapshot_id, s.path, s.allocated_bytes, s.volume_id)
            for s in self._snapshots.values()
        ]
        return sorted(owned, key=lambda o: (o.kind, o.object_id))

    def _provisioned(self) -> int:
        return sum(d.virtual_size_bytes for d in (*self._disks.values(), *self._volumes.values()))

    def _snapshot(self, snapshot_id: str) -> Snapshot:
        snap = self._snapshots.get(snapshot_id)
        if snap is None:
            raise StorageNotFound(f"snapshot {snapshot_id} does not exist")
        return snap

    def _reserve(self, nbytes: int, what: str) -> None:
        limit = int(self._total * self._ratio)
        if self._provisioned() + nbytes > limit:
            raise InsufficientSpace(
                f"{what}: {nbytes} more bytes would exceed the site's {limit} provisionable "
                f"bytes ({self._provisioned()} already provisioned)"
            )
