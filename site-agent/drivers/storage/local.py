"""``LocalStorage``: images, root disks, volumes and snapshots as files, made by qemu-img.

Layout under ``settings.root`` (file names are the agent's ids, which is how an audit
finds orphans; see ``list_owned``)::

    images/<image_id>.<qcow2|raw>      cached image, read-only to the agent's user (0400);
                                       the suffix is the format it was checked as
    images/<image_id>.sha256           its verified checksum; its mtime is the image's last
                                       use (added, or a root disk made on it): LRU order
    disks/<server_id>.qcow2            root disk: qcow2 overlay backed by a cached image
    volumes/<volume_id>.qcow2          volume
    snapshots/<volume_id>@<snapshot_id>.qcow2   standalone copy of a volume
    tmp/                               work in progress (and ``incoming_dir``, where a
                                       fetcher writes an image for ``add_image``);
                                       emptied when the driver starts, but for a
                                       fetcher's partial images (``.*.part``)

The root and every folder in it are 0700: volumes and root disks hold guests' data.

Every object is made under ``tmp/`` and hard-linked to its final name, which fails if the
name exists: a crash leaves at most a file in ``tmp/``, never half an object, and two
racing creates cannot overwrite each other. Mutations run one at a time (one lock), so
the capacity check and the create it guards are not raced either.

Snapshots are full copies (``qemu-img convert``): consistent when the volume is detached
or the guest is quiesced; a volume locked by a running QEMU is refused (``StorageConflict``)
rather than copied torn. Extending an attached volume is likewise refused here; the
compute side would do it with a live block resize.

With ``image_cache_bytes`` set, ``add_image`` evicts least-recently-used images first
(:mod:`.eviction`): never one backing a root disk in ``disks/`` nor one the caller pinned.

Ceph RBD is out of scope for this driver (it would be another ``StorageDriver``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import hashlib
import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

from atoll.errors import AtollError, ConfigError, Problem
from atoll.images.validate import validate_image
from atoll.private_files import private_dir, private_files
from atoll.site_agent.drivers.storage import eviction, qcow2, qemuimg
from atoll.site_agent.drivers.storage.base import (
    CachedImage,
    Capacity,
    Disk,
    ImageFormat,
    ObjectKind,
    OwnedObject,
    Snapshot,
    is_partial_image,
)
from atoll.site_agent.drivers.storage.errors import (
    ChecksumMismatch,
    InsufficientSpace,
    InvalidStorageRequest,
    StorageConflict,
    StorageNotFound,
    StoragePermanent,
    translate,
)
from atoll.site_agent.drivers.storage.naming import check_id, check_sha256, check_size
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings

log = logging.getLogger(__name__)
T = TypeVar("T")
FORMATS: tuple[ImageFormat, ...] = ("qcow2", "raw")
CHUNK = 1 << 20
IMAGE_MODE = 0o400  # cached images: read-only, and only the agent's user (QEMU runs as it)


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LocalStorage:
    """:class:`~.base.StorageDriver` on a local filesystem; see the module docstring."""

    def __init__(self, settings: LocalStorageSettings) -> None:
        if settings.root is None:
            raise ConfigError("[storage] root is not set")
        self._settings = settings
        self._root = settings.root
        self._timeout = settings.qemu_img_timeout
        self._lock = asyncio.Lock()
        private_dir(self._root)
        for sub in ("images", "disks", "volumes", "snapshots", "tmp"):
            private_dir(self._root / sub)
        for leftover in (self._root / "tmp").iterdir():
            if is_partial_image(leftover):
                continue  # a fetcher's progress: it resumes from it, or removes it
            log.info("removing %s, left by an interrupted storage operation", leftover)
            leftover.unlink(missing_ok=True)
        cached = list((self._root / "images").iterdir())  # as an older version left them
        private_files([p for p in cached if p.suffix[1:] in FORMATS], IMAGE_MODE)
        private_files([p for p in cached if p.suffix == ".sha256"])

    @property
    def incoming_dir(self) -> Path:
        """Where a fetcher writes an image for ``add_image``, which moves it into the cache
        (same filesystem): the one place in the storage root a source may come from."""
        return self._root / "tmp"

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(functools.partial(fn, *args))

    async def _mutate(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._lock:
            return await self._run(fn, *args)

    def _tmp(self, name: str) -> Path:
        return self._root / "tmp" / f"{name}.{os.urandom(4).hex()}"

    @staticmethod
    def _publish(tmp: Path, final: Path) -> bool:
        """Hard-link ``tmp`` to ``final`` (False if ``final`` exists), then drop ``tmp``."""
        try:
            os.link(tmp, final)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    # -- images -------------------------------------------------------------------------

    def _image_file(self, image_id: str) -> Path | None:
        for fmt in FORMATS:
            path = self._root / "images" / f"{image_id}.{fmt}"
            if path.exists():
                return path
        return None

    def _image(self, image_id: str) -> CachedImage:
        """The cached image as it was checked and stored: its format is its file's suffix
        (what qemu-img read it as), its virtual size a qcow2's header or a raw file's size."""
        path = self._image_file(image_id)
        if path is None:
            raise StorageNotFound(f"image {image_id} is not in the cache")
        fmt: ImageFormat = "qcow2" if path.suffix == ".qcow2" else "raw"
        virtual = qcow2.read(path).virtual_size if fmt == "qcow2" else path.stat().st_size
        sidecar = path.with_suffix(".sha256")
        sha = sidecar.read_text().strip() if sidecar.exists() else ""
        return CachedImage(image_id, path, fmt, virtual, _allocated(path), sha)

    def _probe(self, image_id: str, source: Path) -> ImageFormat:
        """The format ``source`` is, checked by :func:`atoll.images.validate.validate_image`
        (the hub's rules) against the one its header declares: qcow2 for the qcow2 magic,
        raw for anything else. A file qemu-img reads as another format than the header
        says, or as neither qcow2 nor raw, is refused, and so is one that is not standalone
        or is over ``image_virtual_max_gb``."""
        declared = qcow2.read(source).format
        try:
            validate_image(
                source,
                declared,
                size=source.stat().st_size,
                max_virtual_size=self._settings.image_virtual_max_bytes,
            )
        except AtollError as exc:
            raise translate(exc, f"image {image_id} cannot be cached") from exc
        return declared

    def _existing_image(self, image_id: str, sha256: str) -> CachedImage | None:
        if self._image_file(image_id) is None:
            return None
        existing = self._image(image_id)
        if existing.sha256 != sha256:
            raise StorageConflict(f"image {image_id} is cached with another checksum")
        self._touch(existing.path)
        return existing

    @staticmethod
    def _touch(image_path: Path) -> None:
        """Mark an image used now (its checksum file's mtime orders the LRU)."""
        now = time.time_ns()
        with contextlib.suppress(FileNotFoundError):
            os.utime(image_path.with_suffix(".sha256"), ns=(now, now))

    def _last_used(self, image: CachedImage) -> float:
        try:
            return image.path.with_suffix(".sha256").stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return 0.0

    def _make_room(self, image_id: str, source: Path, pinned: Collection[str]) -> None:
        cap = self._settings.image_cache_bytes
        if cap <= 0:
            return
        incoming = _allocated(source)  # staged in tmp/: moved in as it is
        cached = self._list_images()
        uses = [
            eviction.CacheUse(i.image_id, i.allocated_bytes, self._last_used(i)) for i in cached
        ]
        protected = {d.backing_image_id for d in self._disks() if d.backing_image_id}
        chosen = eviction.victims(
            uses,
            protected | set(pinned),
            image_id=image_id,
            incoming_bytes=incoming,
            cap_bytes=cap,
        )
        for victim in chosen:
            log.info("evicting image %s from the cache to make room for %s", victim, image_id)
            self._remove_image(victim)

    def _stage(self, image_id: str, source: Path) -> tuple[Path, bool]:
        """The file to verify and move into the cache, and whether it is our own copy.

        A file in ``incoming_dir`` is taken as it is (the caller wrote it there for us).
        Any other place in the storage root holds another object's data: refused, never
        read. A file elsewhere is copied into ``tmp/`` first (opened without following a
        symlink), so what is verified is what is cached and the source stays untouched.
        """
        where = [Problem("source", "must be a regular file in the storage driver's incoming dir")]
        refused = InvalidStorageRequest(f"image {image_id} cannot be cached", where)
        if source.parent.resolve() == self.incoming_dir.resolve():
            st = source.lstat()
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                raise refused  # a link to a file elsewhere is not the caller's to give
            return source, False
        if source.resolve().is_relative_to(self._root.resolve()):
            raise refused
        try:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise InvalidStorageRequest(
                f"image {image_id} cannot be cached",
                [Problem("source", f"cannot be opened: {exc.strerror or exc}")],
            ) from exc
        tmp = self._tmp(image_id)
        with os.fdopen(fd, "rb") as src:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                raise refused
            with tmp.open("wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
        return tmp, True

    def _verify(self, image_id: str, staged: Path, sha256: str, hashed: bool) -> ImageFormat:
        """Checksum (unless the caller ``hashed`` it as it wrote it) and format of a staged
        image (slow for big files: outside the lock). A mismatch says so and never what the
        file's checksum is."""
        if not hashed and _sha256(staged) != sha256:
            raise ChecksumMismatch(
                f"image {image_id}: the declared sha256 does not match the file's content"
            )
        return self._probe(image_id, staged)

    def _place_image(
        self, image_id: str, staged: Path, sha256: str, fmt: ImageFormat, pinned: Collection[str]
    ) -> CachedImage:
        existing = self._existing_image(image_id, sha256)
        if existing is not None:
            return existing
        self._make_room(image_id, staged, pinned)
        staged.chmod(IMAGE_MODE)
        final = self._root / "images" / f"{image_id}.{fmt}"
        final.with_suffix(".sha256").write_text(sha256 + "\n")
        self._publish(staged, final)
        self._touch(final)
        return self._image(image_id)

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
        existing = await self._mutate(self._existing_image, image_id, sha256)
        if existing is not None:
            return existing
        staged, copied = await self._run(self._stage, image_id, source)
        try:
            hashed = hashed and not copied  # only the caller's own file in incoming_dir
            fmt = await self._run(self._verify, image_id, staged, sha256, hashed)
            return await self._mutate(
                self._place_image, image_id, staged, sha256, fmt, frozenset(pinned)
            )
        finally:
            if copied:
                staged.unlink(missing_ok=True)

    async def get_image(self, image_id: str) -> CachedImage:
        check_id(image_id, "image_id")
        return await self._run(self._image, image_id)

    def _list_images(self) -> builtins.list[CachedImage]:
        ids = sorted(p.stem for p in (self._root / "images").iterdir() if p.suffix[1:] in FORMATS)
        return [self._image(i) for i in ids]

    async def list_images(self) -> builtins.list[CachedImage]:
        return await self._run(self._list_images)

    def _remove_image(self, image_id: str) -> None:
        path = self._image_file(image_id)
        if path is None:
            return
        users = sorted(d.object_id for d in self._disks() if d.backing_image_id == image_id)
        if users:
            raise StorageConflict(
                f"image {image_id} backs the root disks of {', '.join(users)}; delete them first"
            )
        path.unlink(missing_ok=True)
        path.with_suffix(".sha256").unlink(missing_ok=True)

    async def remove_image(self, image_id: str) -> None:
        check_id(image_id, "image_id")
        await self._mutate(self._remove_image, image_id)

    # -- disks and volumes --------------------------------------------------------------

    def _disk(self, kind: ObjectKind, path: Path) -> Disk:
        header = qcow2.read(path)
        backing = Path(header.backing_file).stem if header.backing_file else None
        return Disk(kind, path.stem, path, header.virtual_size, _allocated(path), "qcow2", backing)

    def _disks(self) -> builtins.list[Disk]:
        return [
            self._disk(ObjectKind.ROOT_DISK, p)
            for p in sorted((self._root / "disks").glob("*.qcow2"))
        ]

    def _volumes(self) -> builtins.list[Disk]:
        return [
            self._disk(ObjectKind.VOLUME, p)
            for p in sorted((self._root / "volumes").glob("*.qcow2"))
        ]

    def _provisioned(self) -> int:
        return sum(d.virtual_size_bytes for d in (*self._disks(), *self._volumes()))

    def _total(self) -> int:
        st = os.statvfs(self._root)
        total = st.f_blocks * st.f_frsize
        limit = self._settings.capacity_bytes
        return min(total, limit) if limit > 0 else total

    def _reserve(self, nbytes: int, what: str) -> None:
        limit = int(self._total() * self._settings.disk_allocation_ratio)
        provisioned = self._provisioned()
        if provisioned + nbytes > limit:
            raise InsufficientSpace(
                f"{what}: {nbytes} more bytes would exceed the site's {limit} provisionable "
                f"bytes ({provisioned} already provisioned)"
            )

    def _create_root_disk(self, server_id: str, image_id: str, size: int | None) -> Disk:
        image = self._image(image_id)
        virtual = image.virtual_size_bytes if size is None else size
        if virtual < image.virtual_size_bytes:
            raise InvalidStorageRequest(
                f"root disk of {server_id}: {size} bytes is smaller than image {image_id} "
                f"({image.virtual_size_bytes} bytes)"
            )
        final = self._root / "disks" / f"{server_id}.qcow2"
        self._touch(image.path)
        if final.exists():
            return self._same_disk(ObjectKind.ROOT_DISK, final, virtual, image_id)
        self._reserve(virtual, f"root disk of {server_id}")
        tmp = self._tmp(server_id)
        qemuimg.create_overlay(tmp, image.path, image.format, size, self._timeout)
        if not self._publish(tmp, final):
            return self._same_disk(ObjectKind.ROOT_DISK, final, virtual, image_id)
        return self._disk(ObjectKind.ROOT_DISK, final)

    def _same_disk(self, kind: ObjectKind, path: Path, size: int, image_id: str | None) -> Disk:
        disk = self._disk(kind, path)
        if disk.virtual_size_bytes != size or disk.backing_image_id != image_id:
            raise StorageConflict(
                f"{kind.value.replace('_', ' ')} {path.stem} exists from another request "
                f"({disk.virtual_size_bytes} bytes, image {disk.backing_image_id})"
            )
        return disk

    async def create_root_disk(
        self, server_id: str, image_id: str, size_bytes: int | None = None
    ) -> Disk:
        check_id(server_id, "server_id")
        check_id(image_id, "image_id")
        if size_bytes is not None:
            check_size(size_bytes)
        return await self._mutate(self._create_root_disk, server_id, image_id, size_bytes)

    def _get(self, kind: ObjectKind, object_id: str) -> Disk:
        folder = "disks" if kind == ObjectKind.ROOT_DISK else "volumes"
        path = self._root / folder / f"{object_id}.qcow2"
        if not path.exists():
            what = f"server {object_id} has no root disk"
            raise StorageNotFound(
                what if kind == ObjectKind.ROOT_DISK else f"volume {object_id} does not exist"
            )
        return self._disk(kind, path)

    async def get_root_disk(self, server_id: str) -> Disk:
        check_id(server_id, "server_id")
        return await self._run(self._get, ObjectKind.ROOT_DISK, server_id)

    async def delete_root_disk(self, server_id: str) -> None:
        check_id(server_id, "server_id")
        path = self._root / "disks" / f"{server_id}.qcow2"
        await self._mutate(path.unlink, True)

    def _create_volume(self, volume_id: str, size: int, snapshot_id: str | None) -> Disk:
        final = self._root / "volumes" / f"{volume_id}.qcow2"
        if final.exists():
            return self._same_disk(ObjectKind.VOLUME, final, size, None)
        snap = None if snapshot_id is None else self._snapshot(snapshot_id)
        if snap is not None and size < snap.virtual_size_bytes:
            raise InvalidStorageRequest(
                f"volume {volume_id}: {size} bytes is smaller than snapshot {snapshot_id} "
                f"({snap.virtual_size_bytes} bytes)"
            )
        self._reserve(size, f"volume {volume_id}")
        tmp = self._tmp(volume_id)
        if snap is None:
            qemuimg.create_blank(tmp, size, self._timeout)
        else:
            qemuimg.copy(snap.path, tmp, self._timeout)
            if size > snap.virtual_size_bytes:
                qemuimg.resize(tmp, size, self._timeout)
        if not self._publish(tmp, final):
            return self._same_disk(ObjectKind.VOLUME, final, size, None)
        return self._disk(ObjectKind.VOLUME, final)

    async def create_volume(
        self, volume_id: str, size_bytes: int, *, snapshot_id: str | None = None
    ) -> Disk:
        check_id(volume_id, "volume_id")
        check_size(size_bytes)
        if snapshot_id is not None:
            check_id(snapshot_id, "snapshot_id")
        return await self._mutate(self._create_volume, volume_id, size_bytes, snapshot_id)

    async def get_volume(self, volume_id: str) -> Disk:
        check_id(volume_id, "volume_id")
        return await self._run(self._get, ObjectKind.VOLUME, volume_id)

    async def list_volumes(self) -> builtins.list[Disk]:
        return await self._run(self._volumes)

    def _extend(self, volume_id: str, size: int) -> Disk:
        disk = self._get(ObjectKind.VOLUME, volume_id)
        if size < disk.virtual_size_bytes:
            raise InvalidStorageRequest(
                f"volume {volume_id} has {disk.virtual_size_bytes} bytes; volumes only grow"
            )
        if size == disk.virtual_size_bytes:
            return disk
        self._reserve(size - disk.virtual_size_bytes, f"volume {volume_id}")
        qemuimg.resize(disk.path, size, self._timeout)
        return self._disk(ObjectKind.VOLUME, disk.path)

    async def extend_volume(self, volume_id: str, size_bytes: int) -> Disk:
        check_id(volume_id, "volume_id")
        check_size(size_bytes)
        return await self._mutate(self._extend, volume_id, size_bytes)

    async def delete_volume(self, volume_id: str) -> None:
        check_id(volume_id, "volume_id")
        path = self._root / "volumes" / f"{volume_id}.qcow2"
        await self._mutate(path.unlink, True)

    # -- snapshots ----------------------------------------------------------------------

    def _snapshots(self) -> builtins.list[Snapshot]:
        result = []
        for path in sorted((self._root / "snapshots").glob("*@*.qcow2")):
            volume_id, _, snapshot_id = path.stem.partition("@")
            header = qcow2.read(path)
            result.append(
                Snapshot(snapshot_id, volume_id, path, header.virtual_size, _allocated(path))
            )
        return result

    def _snapshot(self, snapshot_id: str) -> Snapshot:
        for snap in self._snapshots():
            if snap.snapshot_id == snapshot_id:
                return snap
        raise StorageNotFound(f"snapshot {snapshot_id} does not exist")

    def _snapshot_volume(self, volume_id: str, snapshot_id: str) -> Snapshot:
        disk = self._get(ObjectKind.VOLUME, volume_id)
        with contextlib.suppress(StorageNotFound):
            existing = self._snapshot(snapshot_id)
            if existing.volume_id != volume_id:
                raise StorageConflict(f"snapshot {snapshot_id} belongs to another volume")
            return existing
        tmp = self._tmp(snapshot_id)
        qemuimg.copy(disk.path, tmp, self._timeout)
        self._publish(tmp, self._root / "snapshots" / f"{volume_id}@{snapshot_id}.qcow2")
        return self._snapshot(snapshot_id)

    async def snapshot_volume(self, volume_id: str, snapshot_id: str) -> Snapshot:
        check_id(volume_id, "volume_id")
        check_id(snapshot_id, "snapshot_id")
        return await self._mutate(self._snapshot_volume, volume_id, snapshot_id)

    async def list_snapshots(self, volume_id: str | None = None) -> builtins.list[Snapshot]:
        snaps = await self._run(self._snapshots)
        return [s for s in snaps if volume_id is None or s.volume_id == volume_id]

    def _delete_snapshot(self, snapshot_id: str) -> None:
        for path in (self._root / "snapshots").glob(f"*@{snapshot_id}.qcow2"):
            path.unlink(missing_ok=True)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        check_id(snapshot_id, "snapshot_id")
        await self._mutate(self._delete_snapshot, snapshot_id)

    # -- accounting ---------------------------------------------------------------------

    def _owned(self) -> builtins.list[OwnedObject]:
        owned = [
            OwnedObject(ObjectKind.IMAGE, i.image_id, i.path, i.allocated_bytes)
            for i in self._list_images()
        ]
        owned += [
            OwnedObject(d.kind, d.object_id, d.path, d.allocated_bytes, d.backing_image_id)
            for d in (*self._disks(), *self._volumes())
        ]
        owned += [
            OwnedObject(ObjectKind.SNAPSHOT, s.snapshot_id, s.path, s.allocated_bytes, s.volume_id)
            for s in self._snapshots()
        ]
        return sorted(owned, key=lambda o: (o.kind, o.object_id))

    async def list_owned(self) -> builtins.list[OwnedObject]:
        return await self._run(self._owned)

    def _capacity(self) -> Capacity:
        owned = self._owned()
        st = os.statvfs(self._root)
        return Capacity(
            total_bytes=self._total(),
            free_bytes=st.f_bavail * st.f_frsize,
            used_bytes=sum(o.allocated_bytes for o in owned),
            provisioned_bytes=self._provisioned(),
            images_bytes=sum(o.allocated_bytes for o in owned if o.kind == ObjectKind.IMAGE),
            overcommit_ratio=self._settings.disk_allocation_ratio,
            images_cap_bytes=self._settings.image_cache_bytes,
        )

    async def capacity(self) -> Capacity:
        try:
            return await self._run(self._capacity)
        except OSError as exc:
            raise StoragePermanent(
                f"the storage root cannot be read: {exc.strerror or exc.__class__.__name__}"
            ) from exc
