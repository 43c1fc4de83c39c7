"""Writing image bytes with ``O_DIRECT``: straight to the disk, not through the page cache.

Copying into fresh page cache is most of the CPU an image transfer spends on its writes on
the bench VM: 256 MiB took 0.07 to 0.6 CPU-s buffered, from one run to the next (the host
backing fresh guest pages), and 0.015 CPU-s direct; a later fsync of direct-written data has
next to nothing left to flush. A site writes the chunks it receives into the image this way
(:mod:`atoll.images.assemble`), the hub the chunks of an upload (:mod:`atoll.images.chunks`).

``O_DIRECT`` wants the buffer's address, the file offset and the length aligned to the
device's logical block size: :data:`ALIGN` covers every disk in use. Buffers from
:func:`aligned_buffer` (anonymous mappings) are page-aligned; anything else (bytes, a
bytearray, a short last chunk) is written the usual way. A file system that refuses
``O_DIRECT`` (EINVAL at open) gets buffered writes: :func:`open_direct` returns -1.
:func:`pwrite_all` is the one write loop, direct or buffered.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from collections.abc import Sequence
from pathlib import Path

ALIGN = 4096
Buffer = bytes | bytearray | memoryview | mmap.mmap  # what image bytes are handed around in
_IOV_MAX = os.sysconf("SC_IOV_MAX")


def aligned_buffer(size: int) -> mmap.mmap:
    """A zeroed, writable, page-aligned buffer of ``size`` bytes (at least one)."""
    return mmap.mmap(-1, max(size, 1))


def open_direct(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags | O_DIRECT)``; -1 where the file system refuses ``O_DIRECT``."""
    try:
        return os.open(path, flags | os.O_DIRECT | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return -1
        raise


def pwrite_all(fd: int, blocks: Sequence[Buffer], offset: int) -> None:
    """``os.pwritev`` until every byte of ``blocks`` is written at ``offset`` (direct or not:
    under ``O_DIRECT`` a short write leaves the rest unaligned, and the next write fails)."""
    views = [memoryview(b) for b in blocks if b]
    while views:
        written = os.pwritev(fd, views[:_IOV_MAX], offset)
        offset += written
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if views and written:
            views[0] = views[0][written:]


def direct_ok(block: Buffer) -> bool:
    """Whether ``block`` may be written with ``O_DIRECT`` (at an aligned offset):
    page-aligned in memory, its length a non-zero multiple of :data:`ALIGN`."""
    if not len(block) or len(block) % ALIGN:
        return False
    try:
        address = ctypes.addressof(ctypes.c_char.from_buffer(block))
    except TypeError:  # read-only (bytes): not one of ours
        return False
    return address % ALIGN == 0
