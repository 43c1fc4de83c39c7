"""Reading what we need from a disk image's header without running qemu-img.

Capacity accounting and orphan audits look at every disk on a site; one ``qemu-img info``
per file would cost a process each. The qcow2 header (big-endian) gives the virtual size
at offset 24 and the backing file name at ``backing_file_offset``; any other file is
treated as raw, whose virtual size is its length.

This is what a header *declares*, trusted as it is: read it only from files the driver made
or checked. ``add_image`` refuses an image whose declared format is not the one qemu-img
reads (a qcow2 magic with header version 0 is raw to qemu), so what is cached as qcow2 has
a header qemu reads, and what is cached as raw is never read through this parser.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from atoll.site_agent.drivers.storage.base import ImageFormat

MAGIC = b"QFI\xfb"
_HEADER = struct.Struct(">4sIQIIQ")  # magic, version, backing offset, backing size, bits, size
MAX_BACKING_NAME = 4096


@dataclass(frozen=True)
class ImageHeader:
    format: ImageFormat
    virtual_size: int
    backing_file: str | None = None


def parse(head: bytes, file_size: int) -> ImageHeader:
    """Interpret the first bytes of an image (at least the header plus the backing name):
    qcow2 whenever it starts with the qcow2 magic, whatever its version says."""
    if len(head) < _HEADER.size or head[:4] != MAGIC:
        return ImageHeader("raw", file_size)
    _magic, version, b_off, b_len, _bits, size = _HEADER.unpack_from(head)
    backing = None
    if version in (2, 3) and b_off and 0 < b_len <= MAX_BACKING_NAME:
        raw = head[b_off : b_off + b_len]
        if len(raw) == b_len:
            backing = raw.decode("utf-8", errors="replace")
    return ImageHeader("qcow2", size, backing)


def read(path: Path) -> ImageHeader:
    """The header of the image at ``path`` (OSError if it cannot be read)."""
    with path.open("rb") as fh:
        head = fh.read(65536)
        size = fh.seek(0, 2)
    return parse(head, size)
