"""Writing an image file from its chunks, each straight into place, then renamed.

:class:`Assembly` writes into a temporary file beside the destination, sized to the image
up front: zero chunks are holes, and chunks land at their offsets in any order, as they
arrive (the fetcher places a fetched chunk from the thread that verified it while later
chunks are still on the wire). Every chunk is hashed once, against its sha256 in the
manifest: a fetched one on arrival (:meth:`Assembly.place` is given its checked bytes), a
held one as it is read back from the store (:meth:`Assembly.place_held`; a bad one is
dropped from the store and reported instead of written). The chunks in manifest order *are*
the image, so its sha256 (the hub's hash of those same bytes) is not computed again.
:meth:`Assembly.finish` fsyncs the file once and renames it into place, so the destination
is either absent or the complete image. Blocking: call each method from a worker thread in
async code; placing is thread-safe, and :meth:`Assembly.abort` waits for a place under way.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
import threading
from pathlib import Path

from atoll.images.chunks import ChunkStore
from atoll.images.errors import ChunkMissing, ChunkQuarantined, TransferError
from atoll.images.manifest import Manifest

_IOV_MAX = os.sysconf("SC_IOV_MAX")


@functools.lru_cache(maxsize=8)
def zero_digest(length: int) -> str:
    return hashlib.sha256(bytes(length)).hexdigest()


class Assembly:
    def __init__(self, store: ChunkStore, manifest: Manifest, dest: Path) -> None:
        self.store = store
        self.manifest = manifest
        self.dest = dest
        self.tmp = dest.with_name(f".{dest.name}.part-{secrets.token_hex(4)}")
        self._lengths: dict[str, int] = {}
        self._offsets: dict[str, list[int]] = {}  # where each non-zero chunk goes
        for index, digest in enumerate(manifest.chunks):
            length = manifest.chunk_length(index)
            self._lengths[digest] = length
            if digest != zero_digest(length):
                self._offsets.setdefault(digest, []).append(index * manifest.chunk_size)
        self._todo = set(self._offsets)
        self._lock = threading.Lock()  # a place under way finishes before the file closes
        self._fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.ftruncate(self._fd, manifest.size)
        except BaseException:
            self.abort()
            raise

    def place(self, digest: str, blocks: list[bytes]) -> None:
        """Write chunk ``digest``'s bytes (in blocks, as they arrived), verified by the
        caller, wherever the image has it."""
        with self._lock:
            if self._fd < 0:
                raise TransferError(f"the assembly of {self.dest.name} was given up")
            for offset in self._offsets.get(digest, ()):
                _pwrite_all(self._fd, blocks, offset)
            self._todo.discard(digest)

    def place_held(self, digest: str) -> bool:
        """Place chunk ``digest`` from the store, hashed first; False (and the chunk dropped
        from the store) when it is not what its name says any more."""
        if digest not in self._offsets:
            return True  # a zero chunk: already a hole
        try:
            data = self.store.read(digest)
        except (ChunkMissing, ChunkQuarantined):
            return False
        if len(data) != self._lengths[digest] or hashlib.sha256(data).hexdigest() != digest:
            self.store.discard(digest)
            return False
        self.place(digest, [data])
        return True

    def finish(self) -> None:
        """fsync once and rename into place (every chunk must have been placed)."""
        try:
            if self._todo:
                raise TransferError(
                    f"{len(self._todo)} chunks of {self.dest.name} were never placed"
                )
            os.fsync(self._fd)
            self.tmp.rename(self.dest)
        finally:
            self.abort()

    def abort(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _pwrite_all(fd: int, blocks: list[bytes], offset: int) -> None:
    """``os.pwritev`` until every byte of ``blocks`` is written at ``offset``."""
    views = [memoryview(b) for b in blocks if b]
    while views:
        written = os.pwritev(fd, views[:_IOV_MAX], offset)
        offset += written
        while views and written >= len(views[0]):
            written -= len(views.pop(0))
        if views and written:
            views[0] = views[0][written:]
