"""The ``StorageDriver`` protocol the site agent drives, and its value types.

A storage driver keeps three kinds of things for a site, each named by the agent's id so an
audit can tell ours from anything else and find orphans (:meth:`StorageDriver.list_owned`):

- **cached images**, added by path and sha256 once fetched (the images component fetches;
  the driver verifies and keeps them);
- **root disks**, one per server: a qcow2 overlay backed by a cached image, so a server's
  writes never touch the image and creating one is instant;
- **volumes**: blank (or restored from a snapshot) qcow2 disks that can be extended and
  snapshotted. Attaching and detaching is the compute driver's business: the storage
  driver gives paths (``Disk.path``), the agent core puts them in the domain spec.

Contract (``FakeStorage`` implements it in memory, ``LocalStorage`` with qemu-img):

- Where an image comes from: a file the caller wrote into ``incoming_dir`` is moved into
  the cache (the driver takes it over); a file outside the storage root is copied, never
  moved, and opened without following a symlink; any other file under the root (a volume,
  a root disk, a cached image) is another object's data and is refused without being read.
  What is verified is the staged file that becomes the image: its sha256 (a mismatch never
  says what the file's checksum is), then its format, by the rules the hub applies to its
  uploads (:mod:`atoll.images.validate`): the format the header declares (qcow2 for the
  qcow2 magic with a version qemu reads, 2 or 3; raw for anything else) must be the one
  qemu-img reads; standalone (no backing or external data file), not corrupt, not
  encrypted, and no larger than the driver's bound on virtual sizes. A refusal is
  ``InvalidStorageRequest`` naming what is wrong. A cached image's ``format`` and
  ``virtual_size_bytes`` are the ones checked (a raw image's virtual size is its length).
- No error message carries a host path (they reach API clients, and the hub through a
  server's status message): a file is named by its file name only.
- Creation is idempotent: creating what exists with the same parameters returns it;
  with other parameters raises ``StorageConflict``. Deleting what is missing succeeds.
- Creation is atomic: after a crash at any point either the object exists whole or not
  at all (no half-written file is ever visible under its final name).
- The image cache may have a cap (``image_cache_bytes``, allocated bytes; 0 = none).
  ``add_image`` makes room first by evicting least-recently-used images; an image is
  *used* when it is added (again) or a root disk is created on it. Never evicted: an
  image backing a root disk (the driver knows), any image in ``pinned`` (the caller names
  what its desired servers use but are not built yet: images, kernels, ramdisks), and the
  image being added. When that cannot make room, ``add_image`` raises ``ImageCacheFull``
  naming the cap, and neither adds nor evicts anything (``source`` is left in place).
- ``remove_image`` refuses (``StorageConflict``) while a root disk is backed by the image.
- Sizes only grow: ``extend_volume`` to a smaller size is ``InvalidStorageRequest``.
- ``capacity`` counts bytes really allocated on disk (``used_bytes``) and the virtual
  sizes promised to disks and volumes (``provisioned_bytes``); a create that would push
  ``provisioned_bytes`` beyond ``total_bytes * overcommit_ratio`` raises
  ``InsufficientSpace`` and makes nothing.
- Every method is a coroutine; qemu-img and file I/O run off the event loop.
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

ImageFormat = Literal["qcow2", "raw"]


class ObjectKind(enum.StrEnum):
    IMAGE = "image"
    ROOT_DISK = "root_disk"
    VOLUME = "volume"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True)
class CachedImage:
    image_id: str
    path: Path
    format: ImageFormat
    virtual_size_bytes: int
    allocated_bytes: int
    sha256: str


@dataclass(frozen=True)
class Disk:
    """A root disk (``kind`` ROOT_DISK, ``object_id`` = server id) or a volume."""

    kind: ObjectKind
    object_id: str
    path: Path
    virtual_size_bytes: int
    allocated_bytes: int
    format: ImageFormat = "qcow2"
    backing_image_id: str | None = None


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    volume_id: str
    path: Path
    virtual_size_bytes: int
    allocated_bytes: int


@dataclass(frozen=True)
class Capacity:
    total_bytes: int  # what the site may use (the filesystem, or the configured limit)
    free_bytes: int  # free on the filesystem right now
    used_bytes: int  # allocated on disk by our objects
    provisioned_bytes: int  # virtual sizes of root disks and volumes
    images_bytes: int  # allocated by cached images (part of used_bytes)
    overcommit_ratio: float = 1.0
    images_cap_bytes: int = 0  # the image cache's cap (0: none)


@dataclass(frozen=True)
class OwnedObject:
    """One thing the driver made, as an orphan audit sees it."""

    kind: ObjectKind
    object_id: str  # image id, server id, volume id or snapshot id
    path: Path
    allocated_bytes: int
    parent_id: str | None = None  # a snapshot's volume, a root disk's image


def is_partial_image(path: Path) -> bool:
    """Whether ``path`` in ``incoming_dir`` is a fetcher's partial image: named
    ``.<name>.part`` (:func:`atoll.images.assemble.partial_path`)."""
    return path.name.startswith(".") and path.name.endswith(".part")


class StorageDriver(Protocol):
    @property
    def incoming_dir(self) -> Path:
        """Where a caller writes an image file for :meth:`add_image` to take over.

        A file there named ``.<name>.part`` is a fetcher's partial image (see
        :func:`is_partial_image`): the driver leaves it alone, across restarts too; the
        fetcher resumes from it or removes it."""
        ...

    async def add_image(
        self,
        image_id: str,
        source: Path,
        sha256: str,
        *,
        pinned: Collection[str] = (),
        hashed: bool = False,
    ) -> CachedImage:
        """Verify ``source``'s sha256 and format, and keep it as ``image_id`` (moved in from
        ``incoming_dir``, copied from outside the storage root, refused from anywhere else
        in it), evicting
        least-recently-used images not backing a root disk nor in ``pinned`` if the cache's
        cap needs room (``ImageCacheFull`` if it cannot get enough).

        ``hashed``: the caller wrote ``source`` in ``incoming_dir`` and hashed those very
        bytes as it wrote them (the image puller does), so the sha256 is not computed again;
        ignored for a file anywhere else."""
        ...

    async def get_image(self, image_id: str) -> CachedImage: ...

    async def list_images(self) -> builtins.list[CachedImage]: ...

    async def remove_image(self, image_id: str) -> None: ...

    async def create_root_disk(
        self, server_id: str, image_id: str, size_bytes: int | None = None
    ) -> Disk:
        """A qcow2 overlay on the cached image, grown to ``size_bytes`` if larger."""
        ...

    async def get_root_disk(self, server_id: str) -> Disk: ...

    async def delete_root_disk(self, server_id: str) -> None: ...

    async def create_volume(
        self, volume_id: str, size_bytes: int, *, snapshot_id: str | None = None
    ) -> Disk:
        """A blank volume, or one restored from a snapshot (grown to ``size_bytes``)."""
        ...

    async def get_volume(self, volume_id: str) -> Disk: ...

    async def list_volumes(self) -> builtins.list[Disk]: ...

    async def extend_volume(self, volume_id: str, size_bytes: int) -> Disk: ...

    async def delete_volume(self, volume_id: str) -> None: ...

    async def snapshot_volume(self, volume_id: str, snapshot_id: str) -> Snapshot:
        """A standalone copy of the volume (take it while detached or quiesced)."""
        ...

    async def list_snapshots(self, volume_id: str | None = None) -> builtins.list[Snapshot]: ...

    async def delete_snapshot(self, snapshot_id: str) -> None: ...

    async def capacity(self) -> Capacity: ...

    async def list_owned(self) -> builtins.list[OwnedObject]:
        """Everything the driver holds, for the orphan audit."""
        ...
