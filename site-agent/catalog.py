"""Images present at this site: the ``ImageCatalog`` seam, backed by the storage driver.

A server names an image by id; the agent builds it only if the image is in the local image
cache. A root disk is a qcow2 overlay on a cached disk image; direct kernel boot (Glance's
kernel_id/ramdisk_id) names a cached kernel and ramdisk in the server's ``kernel`` and
``ramdisk`` fields. A field engineer adds an image from a file already on the host with
``POST /v1/images`` (the storage driver verifies its sha256 and format); the hub's image
transfer (:mod:`atoll.images`) lands images through the same ``add_image``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


class ImageCatalog(Protocol):
    async def list_images(self) -> list[ImageInfo]: ...

    async def find(self, ref: str) -> ImageInfo | None:
        """The image with this id, or None when it is not present here."""
        ...

    async def add_image(self, image_id: str, source: Path, sha256: str) -> ImageInfo: ...


class StorageCatalog:
    def __init__(self, storage: StorageDriver) -> None:
        self.storage = storage

    async def list_images(self) -> list[ImageInfo]:
        return [ImageInfo.of(i) for i in await self.storage.list_images()]

    async def find(self, ref: str) -> ImageInfo | None:
        try:
            return ImageInfo.of(await self.storage.get_image(ref))
        except (NotFound, InvalidInput):  # unknown, or an id no image could have
            return None

    async def add_image(self, image_id: str, source: Path, sha256: str) -> ImageInfo:
        return ImageInfo.of(await self.storage.add_image(image_id, source, sha256))
