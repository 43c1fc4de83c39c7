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
async code; placing is thread-safe (places run at once), and :meth:`Assembly.abort` waits for
the places under way.

A chunk handed over in one page-aligned buffer (the fetcher's receive buffers are) is
written with ``O_DIRECT`` where the file system allows it (:mod:`atoll.images.direct_io`):
most of a pull's CPU for the write saved, and the final fsync left next to nothing. Other
chunks (held ones read back, a short last chunk) are written buffered.

With ``resume=True`` the temporary file is the fetch's progress kept on disk: it has one
name per destination (:func:`partial_path`), stays when the assembly is given up, and the
next assembly of the same image takes it over (an exclusive ``flock`` keeps two from
writing it at once). :meth:`Assembly.recover` hashes what it holds, chunk by chunk at every
offset (holes skipped, no read), so a chunk a crash or a cut left short or wrong is simply
fetched again: chunks need not be written twice, once for a resume and once into place.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import os
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path

from atoll.images import direct_io
from atoll.images.chunks import ChunkStore
from atoll.images.errors import ChunkMissing, ChunkQuarantined, TransferError
from atoll.images.manifest import Manifest


@functools.lru_cache(maxsize=8)
def zero_digest(length: int) -> str:
    return hashlib.sha256(bytes(length)).hexdigest()


def partial_path(dest: Path) -> Path:
    """Where a resumable assembly of ``dest`` keeps its partial image."""
    return dest.with_name(f".{dest.name}.part")


class Assembly:
    def __init__(
        self, store: ChunkStore, manifest: Manifest, dest: Path, *, resume: bool = False
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.dest = dest
        self.resume = resume
        if resume:
            self.tmp = partial_path(dest)
        else:
            self.tmp = dest.with_name(f".{dest.name}.part-{secrets.token_hex(4)}")
        self._lengths: dict[str, int] = {}
        self._offsets: dict[str, list[int]] = {}  # where each non-zero chunk goes
        self._holes: list[tuple[int, int]] = []  # (offset, length) of the zero chunks
        for index, digest in enumerate(manifest.chunks):
            length = manifest.chunk_length(index)
            self._lengths[digest] = length
            if digest != zero_digest(length):
                self._offsets.setdefault(digest, []).append(index * manifest.chunk_size)
            else:
                self._holes.append((index * manifest.chunk_size, length))
        self._todo = set(self._offsets)
        # places run at once; the file closes once those under way are done
        self._state = threading.Condition()
        self._placing = 0
        self._direct = -1  # the O_DIRECT descriptor, where chunks can go that way
        self._fd, self._resumed = self._open()
        try:
            os.ftruncate(self._fd, manifest.size)
            if manifest.chunk_size % direct_io.ALIGN == 0:
                self._direct = direct_io.open_direct(self.tmp, os.O_WRONLY)
        except BaseException:
            self.abort()
            raise

    def _open(self) -> tuple[int, bool]:
        """The temporary file's descriptor, and whether it holds an earlier fetch's work."""
        if not self.resume:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            return os.open(self.tmp, flags, 0o644), False
        fd = os.open(self.tmp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise TransferError(f"{self.dest.name} is being fetched by another transfer") from None
        except BaseException:
            os.close(fd)
            raise
        if os.fstat(fd).st_size == self.manifest.size:
            return fd, True
        os.ftruncate(fd, 0)  # not this image's size: nothing in it to keep
        return fd, False

    def recover(self) -> set[str]:
        """The chunks an earlier, cut assembly of this image already wrote (every offset
        hashed against the chunk's sha256); they count as placed. Empty unless resuming."""
        if not self._resumed:
            return set()
        if not all(self._zero(offset, length) for offset, length in self._holes):
            # data where this image has a hole: not this image's partial, start afresh
            os.ftruncate(self._fd, 0)
            os.ftruncate(self._fd, self.manifest.size)
            return set()
        done = {
            digest
            for digest, offsets in self._offsets.items()
            if all(self._holds(digest, offset) for offset in offsets)
        }
        with self._state:
            self._todo -= done
        return done

    def _has_data(self, offset: int, length: int) -> bool:
        """Whether any of ``length`` bytes at ``offset`` were ever written (not all hole)."""
        try:
            return os.lseek(self._fd, offset, os.SEEK_DATA) < offset + length
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but holes from there on
                return False
            raise

    def _zero(self, offset: int, length: int) -> bool:
        if not self._has_data(offset, length):
            return True
        data = os.pread(self._fd, length, offset)
        return len(data) == length and data.count(0) == length

    def _holds(self, digest: str, offset: int) -> bool:
        length = self._lengths[digest]
        if not self._has_data(offset, length):
            return False  # never written: no need to read it
        data = os.pread(self._fd, length, offset)
        return len(data) == length and hashlib.sha256(data).hexdigest() == digest

    def place(self, digest: str, blocks: Sequence[bytes | memoryview]) -> None:
        """Write chunk ``digest``'s bytes (in blocks, as they arrived), verified by the
        caller, wherever the image has it."""
        with self._state:
            if self._fd < 0:
                raise TransferError(f"the assembly of {self.dest.name} was given up")
            self._placing += 1
        try:
            direct = self._direct >= 0 and len(blocks) == 1 and direct_io.direct_ok(blocks[0])
            for offset in self._offsets.get(digest, ()):
                direct_io.pwrite_all(self._direct if direct else self._fd, blocks, offset)
        finally:
            with self._state:
                self._placing -= 1
                self._state.notify_all()
        with self._state:
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
        """Give up: the temporary file is removed, unless it is a resumable partial image
        (kept for the next assembly of this image). Safe to call more than once."""
        with self._state:
            self._state.wait_for(lambda: self._placing == 0)
            if self._direct >= 0:
                os.close(self._direct)
                self._direct = -1
            if self._fd >= 0:
                os.close(self._fd)  # (a resumable one's flock goes with it)
                self._fd = -1
        if not self.resume:
            with contextlib.suppress(FileNotFoundError):  # gone already once renamed
                self.tmp.unlink()
