"""Images present at this site: the ``ImageCatalog`` seam, backed by the storage driver.

A server names an image by id; the agent builds it only if the image is in the local image
cache. A root disk is a qcow2 overlay on a cached disk image; direct kernel boot (Glance's
kernel_id/ramdisk_id) names a cached kernel and ramdisk in the server's ``kernel`` and
``ramdisk`` fields.

Where images come from (an API caller never names a host path):

- the hub: :mod:`.hub_images` pulls into the storage driver's ``incoming_dir`` and calls
  ``add_image``;
- an upload through the local API (:meth:`StorageCatalog.upload`: the bytes streamed into
  ``incoming_dir``, checked against the declared sha256);
- a file *name* in the directory the agent's ``image_import_dir`` setting names
  (:meth:`StorageCatalog.import_file`): a plain name (no ``/``, not ``.`` or ``..``), opened
  inside that directory without following a symlink, and copied, never moved.

Either way the storage driver verifies the sha256 and the format (qemu-img) of the file it
keeps, and a mismatch never says what the file's checksum is.

The image cache may be capped (``image_cache_max_gb``): adding an image then evicts the
least recently used ones. The driver never evicts an image backing a root disk; the images
desired servers name (:func:`server_images`: not built yet, or booted from a kernel and
ramdisk) are passed to it as ``pinned`` on every add.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from atoll.errors import InvalidInput, NotFound, PayloadTooLarge, Problem
from atoll.site_agent.drivers.storage.base import CachedImage, StorageDriver
from atoll.site_agent.drivers.storage.errors import InsufficientSpace, StoragePermanent
from atoll.site_agent.drivers.storage.naming import check_id, check_sha256

COPY_BLOCK = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class ImageInfo:
    id: str
    format: str
    virtual_size: int
    size: int
    sha256: str
    path: Path

    @classmethod
    def of(cls, image: CachedImage) -> ImageInfo:
        return cls(
            image.image_id,
            image.format,
            image.virtual_size_bytes,
            image.allocated_bytes,
            image.sha256,
            image.path,
        )

    def view(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.id,
            "format": self.format,
            "virtual_size": self.virtual_size,
            "size": self.size,
            "sha256": self.sha256,
        }


Pins = Callable[[], Awaitable[set[str]]]


class _Objects(Protocol):
    def list_objects(self, kind: str | None = None, include_deleting: bool = True) -> list[Any]: ...

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any: ...


def server_images(store: _Objects) -> Pins:
    """What the site's servers name (``image``, ``kernel``, ``ramdisk``; not those being
    deleted, whose root disks pin their images anyway), read on each call."""

    async def refs() -> set[str]:
        servers = await store.call(store.list_objects, "server", False)
        out = set()
        for server in servers:
            for key in ("image", "kernel", "ramdisk"):
                if isinstance(server.spec.get(key), str):
                    out.add(server.spec[key])
        return out

    return refs


class ImageCatalog(Protocol):
    async def list_images(self) -> list[ImageInfo]: ...

    async def find(self, ref: str) -> ImageInfo | None:
        """The image with this id, or None when it is not present here."""
        ...

    async def upload(
        self, image_id: str, chunks: AsyncIterable[bytes], sha256: str
    ) -> ImageInfo: ...

    async def import_file(self, image_id: str, name: str, sha256: str) -> ImageInfo: ...


class StorageCatalog:
    def __init__(
        self, storage: StorageDriver, pinned: Pins | None = None, import_dir: Path | None = None
    ) -> None:
        self.storage = storage
        self.pinned = pinned
        self.import_dir = import_dir

    async def list_images(self) -> list[ImageInfo]:
        return [ImageInfo.of(i) for i in await self.storage.list_images()]

    async def find(self, ref: str) -> ImageInfo | None:
        try:
            return ImageInfo.of(await self.storage.get_image(ref))
        except (NotFound, InvalidInput):  # unknown, or an id no image could have
            return None

    async def add_image(self, image_id: str, source: Path, sha256: str) -> ImageInfo:
        pins = await self.pinned() if self.pinned is not None else set()
        return ImageInfo.of(await self.storage.add_image(image_id, source, sha256, pinned=pins))

    async def upload(self, image_id: str, chunks: AsyncIterable[bytes], sha256: str) -> ImageInfo:
        """Stream ``chunks`` into the driver's incoming dir, then cache them as ``image_id``.

        Whatever ends ``chunks`` early (the caller's upload cut or stalled: the API gives
        :func:`atoll.images.serve.request_blocks`) is raised as it is; only a failure to
        write the staged file is this side's. Either way nothing is kept."""
        check_id(image_id, "image_id")
        check_sha256(sha256)
        cap = (await self.storage.capacity()).images_cap_bytes  # an upload never exceeds it
        staged = self._staging_name("upload")
        try:
            fd = await _writing(image_id, asyncio.to_thread(_create_private, staged))
            with os.fdopen(fd, "wb") as out:
                received = 0
                async for chunk in chunks:
                    received += len(chunk)
                    if cap and received > cap:
                        raise PayloadTooLarge(
                            f"image {image_id} is larger than the image cache's cap of {cap} bytes"
                        )
                    await _writing(image_id, asyncio.to_thread(out.write, chunk))
            return await self.add_image(image_id, staged, sha256)
        finally:
            staged.unlink(missing_ok=True)

    async def import_file(self, image_id: str, name: str, sha256: str) -> ImageInfo:
        """Copy ``name`` from the import dir into the driver's incoming dir, then cache it."""
        check_id(image_id, "image_id")
        check_sha256(sha256)
        if self.import_dir is None:
            raise InvalidInput(
                "this agent has no image_import_dir",
                [Problem("body.file", "upload the file with PUT /v1/images/{id}/file instead")],
            )
        _check_file_name(name)
        staged = self._staging_name("import")
        try:
            await asyncio.to_thread(_copy_in, self.import_dir, name, staged)
            return await self.add_image(image_id, staged, sha256)
        finally:
            staged.unlink(missing_ok=True)

    def _staging_name(self, what: str) -> Path:
        return self.storage.incoming_dir / f"{what}.{secrets.token_hex(8)}"


async def _writing(image_id: str, step: Awaitable[T]) -> T:
    """``step``, a write of an upload's staged file: a full disk is ``InsufficientSpace``,
    another failure ``StoragePermanent``, saying why (never the file's path)."""
    try:
        return await step
    except OSError as exc:
        message = f"image {image_id} cannot be stored: {exc.strerror or type(exc).__name__}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InsufficientSpace(message) from exc
        raise StoragePermanent(message) from exc


def _check_file_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name or len(name) > 255:
        raise InvalidInput(
            "the image cannot be imported",
            [Problem("body.file", "must be the name of a file in the import dir, not a path")],
        )


def _create_private(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)


def _copy_in(import_dir: Path, name: str, dest: Path) -> None:
    """Copy ``import_dir/name`` to ``dest``: resolved inside ``import_dir`` (``openat``), a
    regular file, never through a symlink."""
    not_there = InvalidInput(
        "the image cannot be imported",
        [Problem("body.file", f"{name!r} is not a regular file in the import dir")],
    )
    try:
        dir_fd = os.open(import_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise InvalidInput(
            "the image cannot be imported",
            [Problem("image_import_dir", f"the agent cannot open it: {exc.strerror}")],
        ) from exc
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:
        raise not_there from exc
    finally:
        os.close(dir_fd)
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise not_there
        with os.fdopen(_create_private(dest), "wb") as out:
            shutil.copyfileobj(src, out, COPY_BLOCK)
