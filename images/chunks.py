"""A content-addressed chunk store on the local filesystem.

Each chunk is a file named by the sha256 of its bytes, fanned out by the first two hex
digits (``chunks/ab/ab12...``). Writes go to a temporary file in ``tmp/`` on the same
filesystem and are renamed into place, so a chunk file is either absent or complete; a chunk
that is already there is not written again (identical chunks across images are stored once)
unless its bytes are not what its name says: storing over a corrupt chunk repairs it.

A chunk found corrupt (:meth:`ChunkStore.read_verified`, :meth:`ChunkStore.scrub`) is moved
aside to ``quarantine/<sha256>`` (kept for a person to look at, never served); until the same
content is stored again the chunk reads as :class:`ChunkQuarantined`. :meth:`ChunkStore.gc`
deletes a quarantined chunk once it has been aside for the retention it is given (logged).

There are no reference counts: what is live is what the manifests say. :meth:`ChunkStore.gc`
is a mark-and-sweep given every live manifest's chunk set; chunks touched within a grace
period are kept, so an upload still in flight (chunks written, manifest not yet) is safe.

With ``direct=True`` (the hub's store) a new chunk whose length is a multiple of
:data:`~atoll.images.direct_io.ALIGN` is written with ``O_DIRECT``
(:mod:`atoll.images.direct_io`): from where it is if that is page-aligned (an upload's
chunks, :class:`~atoll.images.manifest.Ingest`), else from a copy in a page-aligned buffer
of the writing thread. An upload's chunk writes no longer fill the page cache, most of
their CPU on the bench VM. Reads go through the page cache as before.

Blocking file I/O: call from a worker thread (``asyncio.to_thread``) in async code.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from atoll.errors import InvalidInput, Problem
from atoll.images import direct_io
from atoll.images.direct_io import Buffer
from atoll.images.errors import ChunkMissing, ChunkQuarantined

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ZEROS = bytes(DEFAULT_CHUNK_SIZE)


def check_digest(digest: str, where: str = "sha256") -> str:
    """Return ``digest`` if it is 64 lowercase hex digits, else raise InvalidInput."""
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise InvalidInput(
            "not a sha256 digest", [Problem(where, "expected 64 lowercase hex digits")]
        )
    return digest


def sha256_hex(data: Buffer) -> str:
    return hashlib.sha256(data).hexdigest()


_ZERO_STEP = 64 * 1024  # what is_zero copies and compares at a time, bytes aside


def is_zero(data: Buffer) -> bool:
    """True when every byte is zero: ``bytes`` or a ``bytearray`` of up to a chunk compared
    with a zero buffer at once (memcmp speed), anything else a 64 KiB slice at a time (an
    upload's aligned buffers, views), so data that is not all zeros stops at its first."""
    n = len(data)
    if isinstance(data, bytes | bytearray) and n <= len(_ZEROS):
        return data == _ZEROS[:n]
    with memoryview(data) as view:
        return all(
            bytes(view[i : i + _ZERO_STEP]) == _ZEROS[: min(_ZERO_STEP, n - i)]
            for i in range(0, n, _ZERO_STEP)
        )


def _quarantined(digest: str) -> ChunkQuarantined:
    return ChunkQuarantined(
        f"chunk {digest} failed its sha256 check and is quarantined; "
        "upload the image's content again to repair it"
    )


@dataclass(frozen=True)
class GcReport:
    removed: int
    freed_bytes: int
    kept: int


@dataclass(frozen=True)
class ScrubReport:
    checked: int
    corrupt: tuple[str, ...]  # the digests quarantined by this scrub


class ChunkStore:
    """Chunks under ``root``; ``fsync=True`` makes every new chunk durable before it is named;
    ``direct=True`` writes new chunks with ``O_DIRECT`` where it can (see the module)."""

    def __init__(
        self,
        root: Path,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        *,
        fsync: bool = True,
        direct: bool = False,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.root = Path(root)
        self.chunk_size = chunk_size
        self.fsync = fsync
        self.direct = direct
        self._buffers = threading.local()  # each writing thread's aligned buffer
        self._chunks = self.root / "chunks"
        self._tmp = self.root / "tmp"
        self._quarantine = self.root / "quarantine"
        self._chunks.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        check_digest(digest)
        return self._chunks / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise ChunkMissing(f"chunk {digest} is not in the store at {self.root}") from exc

    def put(
        self,
        data: Buffer | list[bytes],
        digest: str | None = None,
        *,
        sync: bool | None = None,
    ) -> str:
        """Store ``data`` under its sha256 (``digest`` if the caller already hashed it).

        ``data`` may be a list of blocks (as they came off the wire), written as they are.

        Returns the digest. An existing chunk holding exactly ``data`` is not rewritten; its
        mtime is refreshed so a concurrent gc keeps it for the grace period. One of another
        size (a crash) or other bytes (bit rot, tampering) is replaced: a re-upload repairs.
        ``sync=False`` skips this chunk's fsync (default: the store's ``fsync``): the caller
        then makes it durable with :meth:`sync` before anything names it.
        """
        blocks = data if isinstance(data, list) else [data]
        size = sum(len(b) for b in blocks)
        digest = digest or sha256_hex(b"".join(blocks))
        final = self.path(digest)
        with contextlib.suppress(FileNotFoundError):
            if final.stat().st_size == size:
                if final.read_bytes() == b"".join(blocks):  # same bytes, at memcmp speed
                    os.utime(final)
                    return digest
                log.warning("chunk %s in %s was corrupt; storing a good copy", digest, self.root)
        final.parent.mkdir(exist_ok=True)
        tmp = self._tmp / f"{digest[:16]}.{secrets.token_hex(6)}"
        durable = self.fsync if sync is None else sync
        try:
            zero = all(is_zero(b) for b in blocks)
            if zero or not self._put_direct(tmp, blocks, size, durable):
                with tmp.open("wb") as fh:
                    if zero:
                        fh.truncate(size)  # a hole: zero chunks take no space
                    else:
                        fh.writelines(blocks)
                    if durable:
                        fh.flush()
                        os.fsync(fh.fileno())
            tmp.rename(final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return digest

    def _put_direct(
        self,
        tmp: Path,
        blocks: Sequence[Buffer],
        size: int,
        durable: bool,
    ) -> bool:
        """Write ``blocks`` to ``tmp`` with ``O_DIRECT``; False where that cannot be (not a
        direct store, a length that is not aligned, a file system that refuses it)."""
        if not self.direct or size % direct_io.ALIGN:
            return False
        fd = direct_io.open_direct(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        if fd < 0:
            self.direct = False  # this file system refuses it: buffered from now on
            return False
        try:
            if len(blocks) == 1 and direct_io.direct_ok(blocks[0]):
                direct_io.pwrite_all(fd, blocks, 0)  # aligned already (an upload's): no copy
            else:
                buffer = getattr(self._buffers, "buffer", None)
                if buffer is None or len(buffer) < size:
                    buffer = self._buffers.buffer = direct_io.aligned_buffer(size)
                offset = 0
                for block in blocks:
                    buffer[offset : offset + len(block)] = block
                    offset += len(block)
                with memoryview(buffer) as view:
                    direct_io.pwrite_all(fd, [view[:size]], 0)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def sync(self, digests: Iterable[str]) -> None:
        """fsync each named chunk (on a store opened with ``fsync``): one commit point for
        chunks put with ``sync=False``. A chunk already clean costs a metadata check."""
        if not self.fsync:
            return
        for digest in digests:
            try:
                fd = os.open(self.path(digest), os.O_RDONLY)
            except FileNotFoundError as exc:
                raise self._absent(digest) from exc
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise self._absent(digest) from exc

    def read_verified(self, digest: str) -> bytes:
        """The chunk's bytes, hashed first: a chunk that fails is quarantined and raises."""
        data = self.read(digest)
        if sha256_hex(data) != digest:
            self.quarantine(digest)
            data = self.read(digest)  # ChunkQuarantined, unless a put repaired it meanwhile
            if sha256_hex(data) != digest:
                raise _quarantined(digest)
        return data

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError as exc:
            raise self._absent(digest) from exc

    def _absent(self, digest: str) -> ChunkMissing | ChunkQuarantined:
        if self.quarantined(digest):
            return _quarantined(digest)
        return ChunkMissing(f"chunk {digest} is not in the store at {self.root}")

    def verify(self, digest: str) -> bool:
        """True when the stored chunk still hashes to its name (bit rot, tampering)."""
        try:
            return sha256_hex(self.read(digest)) == digest
        except (ChunkMissing, ChunkQuarantined):
            return False

    def quarantine(self, digest: str) -> bool:
        """Move the chunk aside to ``quarantine/`` (logged once: it is gone from the store)."""
        self._quarantine.mkdir(exist_ok=True)
        path, aside = self.path(digest), self._quarantine / digest
        try:
            path.rename(aside)
        except FileNotFoundError:
            return False  # gone already (another reader quarantined it first)
        if sha256_hex(aside.read_bytes()) == digest:  # a put repaired it meanwhile: keep it
            aside.rename(path)
            return False
        log.error(
            "chunk %s in %s failed its sha256 check; moved to %s (upload the content again)",
            digest,
            self.root,
            self._quarantine / digest,
        )
        return True

    def quarantined(self, digest: str) -> bool:
        """True while the chunk is quarantined and not yet stored again."""
        return (self._quarantine / digest).is_file() and not self.has(digest)

    def scrub(self) -> ScrubReport:
        """Hash every chunk; quarantine the ones that fail. Reads the whole store."""
        checked, corrupt = 0, []
        for digest in list(self.digests()):
            try:
                data = self.path(digest).read_bytes()
            except FileNotFoundError:
                continue  # collected or quarantined meanwhile
            checked += 1
            if sha256_hex(data) != digest and self.quarantine(digest):
                corrupt.append(digest)
        if corrupt:
            log.error("chunk scrub in %s quarantined %d corrupt chunks", self.root, len(corrupt))
        return ScrubReport(checked=checked, corrupt=tuple(corrupt))

    def discard(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def digests(self) -> Iterator[str]:
        for sub in sorted(self._chunks.iterdir()):
            if sub.is_dir():
                for f in sorted(sub.iterdir()):
                    if _HEX64.fullmatch(f.name):
                        yield f.name

    def usage(self) -> int:
        """Bytes held by chunk files (allocated size, so holes are not counted)."""
        total = 0
        for digest in self.digests():
            with contextlib.suppress(FileNotFoundError):
                total += self.path(digest).stat().st_blocks * 512
        return total

    def gc(
        self,
        live: Iterable[str],
        *,
        grace_seconds: float = 3600.0,
        now: float | None = None,
        quarantine_retention: float = 0.0,
    ) -> GcReport:
        """Remove chunks no live manifest names, unless written or used within the grace;
        and quarantined chunks aside for ``quarantine_retention`` seconds (0: kept)."""
        keep = set(live)
        now = time.time() if now is None else now
        removed = kept = freed = 0
        for digest in list(self.digests()):
            path = self.path(digest)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            if digest in keep or now - st.st_mtime < grace_seconds:
                kept += 1
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
                freed += st.st_size
        for tmp in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if now - tmp.stat().st_mtime >= grace_seconds:
                    tmp.unlink()
        if removed:
            log.info("chunk gc in %s removed %d chunks (%d bytes)", self.root, removed, freed)
        if quarantine_retention > 0:
            self._expire_quarantine(now - quarantine_retention)
        return GcReport(removed=removed, freed_bytes=freed, kept=kept)

    def _expire_quarantine(self, before: float) -> None:
        """Delete quarantined chunks moved aside before ``before`` (the rename set their
        ctime; their mtime is still the write's)."""
        if not self._quarantine.is_dir():
            return
        gone = []
        for aside in self._quarantine.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if aside.stat().st_ctime < before:
                    aside.unlink()
                    gone.append(aside.name)
        if gone:
            log.warning("chunk gc in %s deleted %d quarantined chunks past their retention: %s",
                        self.root, len(gone), ", ".join(sorted(gone)))  # fmt: skip
