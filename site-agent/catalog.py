"""Images present at this site: the ``ImageCatalog`` seam and a directory-backed catalog.

A server names an image (by id or name); the agent boots it only if it is present locally.
Two kinds of image exist:

- a **disk** image (qcow2 or raw): the root disk is a qcow2 overlay on it;
- a **kernel** image (direct kernel boot, like Glance's kernel_id/ramdisk_id): a kernel, an
  optional initrd and a command line.

:class:`DirectoryCatalog` reads them from the image cache directory: ``<name>.qcow2`` or
``<name>.raw`` files are disk images, and a ``<name>/`` folder with ``vmlinuz`` (plus
optional ``initrd.img`` and ``cmdline``) is a kernel image. The image cache of
:mod:`atoll.images` can stand behind the same protocol.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

ImageKind = Literal["disk", "kernel"]


@dataclass(frozen=True)
class ImageInfo:
    id: str
    name: str
    kind: ImageKind
    format: str  # qcow2 | raw | kernel
    size: int
    path: Path  # disk file, or the kernel
    initrd: Path | None = None
    cmdline: str = ""

    def view(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "format": self.format,
            "size": self.size,
        }


class ImageCatalog(Protocol):
    async def list_images(self) -> list[ImageInfo]: ...

    async def find(self, ref: str) -> ImageInfo | None:
        """The image with this id or name, or None when it is not present here."""
        ...


class DirectoryCatalog:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def list_images(self) -> list[ImageInfo]:
        return await asyncio.to_thread(self._scan)

    async def find(self, ref: str) -> ImageInfo | None:
        for image in await self.list_images():
            if ref in (image.id, image.name):
                return image
        return None

    def _scan(self) -> list[ImageInfo]:
        if not self.root.is_dir():
            return []
        found: list[ImageInfo] = []
        for entry in sorted(self.root.iterdir()):
            if entry.is_file() and entry.suffix in (".qcow2", ".raw"):
                found.append(
                    ImageInfo(
                        id=entry.stem,
                        name=entry.stem,
                        kind="disk",
                        format=entry.suffix[1:],
                        size=entry.stat().st_size,
                        path=entry,
                    )
                )
            elif entry.is_dir() and (entry / "vmlinuz").is_file():
                initrd = entry / "initrd.img"
                cmdline = entry / "cmdline"
                found.append(
                    ImageInfo(
                        id=entry.name,
                        name=entry.name,
                        kind="kernel",
                        format="kernel",
                        size=sum(p.stat().st_size for p in entry.iterdir() if p.is_file()),
                        path=entry / "vmlinuz",
                        initrd=initrd if initrd.is_file() else None,
                        cmdline=cmdline.read_text().strip() if cmdline.is_file() else "",
                    )
                )
        return found
