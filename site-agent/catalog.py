"""Images present at this site: the ``ImageCatalog`` seam, backed by the storage driver.

A server names an image by id; the agent builds it only if the image is in the local image
cache. A root disk is a qcow2 overlay on a cached disk image; direct kernel boot (Glance's
kernel_id/ramdisk_id) names a cached kernel and ramdisk in the server's ``kernel`` and
``ramdisk`` fields. A field engineer adds an image from a file already on the host with
``POST /v1/images`` (the storage driver verifies its sha256 and format); the hub's image
transfer (:mod:`atoll.images`) lands images through the same ``add_image``.

The image cache may be capped (``image_cache_max_gb``): adding an image then evicts the
least recently used ones. The driver never evicts an image backing a root disk; the images
desired servers name (:func:`server_images`: not built yet, or booted from a kernel and
ramdisk) are passed to it as ``pinned`` on every add.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from atoll.errors import InvalidInput, NotFound
from atoll.site_agent.drivers.storage.base import CachedImage, StorageDriver


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

    async def add_image(self, image_id: str, source: Path, sha256: str) -> ImageInfo: ...


class StorageCatalog:
    def __init__(self, storage: StorageDriver, pinned: Pins | None = None) -> None:
        self.storage = storage
        self.pinned = pinned

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
