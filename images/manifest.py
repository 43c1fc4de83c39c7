"""Image manifests, and the streaming ingest that builds them.

A manifest names an image's content: its sha256, its size, the chunk size, and the ordered
sha256 of each chunk (the last one may be shorter). It is JSON-able and is all a site needs
to fetch, verify and assemble the image from a chunk store.

:class:`Ingest` takes bytes as they arrive (never the whole image), hashes the image and
each chunk (sha256) as it goes, writes chunks to a :class:`~atoll.images.chunks.ChunkStore`
and enforces limits. It returns a manifest only when the stream is complete and matches what was
declared; on any failure it raises and there is no manifest (chunks already written stay for
the store's gc). :class:`ManifestDir` stores manifests by image id, atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import mmap
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from atoll.errors import InvalidInput, NotFound, Problem
from atoll.images.chunks import ChunkStore, check_digest
from atoll.images.direct_io import Buffer, aligned_buffer
from atoll.images.errors import ChecksumMismatch, ImageTooLarge, TruncatedUpload

MANIFEST_VERSION = 1
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Manifest:
    sha256: str
    size: int
    chunk_size: int
    chunks: tuple[str, ...]

    @functools.cached_property
    def chunk_set(self) -> frozenset[str]:
        return frozenset(self.chunks)

    def chunk_length(self, index: int) -> int:
        if index < len(self.chunks) - 1:
            return self.chunk_size
        return self.size - self.chunk_size * (len(self.chunks) - 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "sha256": self.sha256,
            "size": self.size,
            "chunk_size": self.chunk_size,
            "chunks": list(self.chunks),
        }

    @classmethod
    def from_json(cls, data: object, where: str = "manifest") -> Manifest:
        """Parse and check a manifest (e.g. from the wire); every problem is reported."""
        if not isinstance(data, dict):
            raise InvalidInput("not a manifest", [Problem(where, "expected a JSON object")])
        problems: list[Problem] = []
        if data.get("version") != MANIFEST_VERSION:
            problems.append(Problem(f"{where}.version", f"expected {MANIFEST_VERSION}"))
        sha, size, csize, chunks = (data.get(k) for k in ("sha256", "size", "chunk_size", "chunks"))
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            problems.append(Problem(f"{where}.sha256", "expected 64 lowercase hex digits"))
        if type(size) is not int or size < 0:
            problems.append(Problem(f"{where}.size", "expected a non-negative integer"))
        if type(csize) is not int or csize <= 0:
            problems.append(Problem(f"{where}.chunk_size", "expected a positive integer"))
        if not isinstance(chunks, list):
            problems.append(Problem(f"{where}.chunks", "expected a list of sha256 digests"))
            chunks = []
        for i, c in enumerate(chunks):
            if not isinstance(c, str) or not re.fullmatch(r"[0-9a-f]{64}", c):
                problems.append(Problem(f"{where}.chunks[{i}]", "expected a sha256 digest"))
        if not problems:
            assert isinstance(size, int) and isinstance(csize, int)
            expected = -(-size // csize)
            if len(chunks) != expected:
                problems.append(
                    Problem(f"{where}.chunks", f"{len(chunks)} chunks, size needs {expected}")
                )
        if problems:
            raise InvalidInput("the manifest is not valid", problems)
        assert isinstance(sha, str) and isinstance(size, int) and isinstance(csize, int)
        return cls(sha256=sha, size=size, chunk_size=csize, chunks=tuple(chunks))


@dataclass(frozen=True)
class IngestLimits:
    max_size: int
    max_chunks: int


def _hash_and_put(store: ChunkStore, chunk: Buffer) -> str:
    return store.put(chunk, hashlib.sha256(chunk).hexdigest(), sync=False)


class Ingest:
    """Feed bytes in order, then :meth:`finish` (or :meth:`close` to give up).

    The bytes fed are copied once, into page-aligned chunk buffers (reused once their chunk
    is written). A full chunk is hashed and written from its buffer (``O_DIRECT`` on a direct
    store, no further copy) by ``workers`` threads while the image's sha256 runs in the
    feeding thread (hashlib releases the GIL: they run on every core); at most
    ``2 * workers`` chunks in flight, so memory stays at a few chunks. Those are the two
    digests an upload takes of every byte; no other is taken here (the hub computes an
    image's sha-512 after the upload, from its stored chunks).

    Durability: chunks are written without an fsync each; :meth:`finish` fsyncs every chunk
    the manifest names (``workers`` at a time, so the filesystem commits them together) before
    it returns the manifest, and the caller saves the manifest (fsynced, renamed) only after
    that. A crash before then leaves no manifest naming these chunks, only chunk files that
    may be empty, short or wrong under their names. Nothing serves or reuses them unchecked:
    a re-upload's :meth:`ChunkStore.put` compares an existing chunk's size and bytes and
    rewrites one that differs, the store's gc collects the unnamed ones, and a site verifies
    each chunk's sha256 as it arrives. Syncing every chunk named, not only those this upload
    wrote, covers a chunk deduplicated against another upload still in flight.

    ``head`` (optional) receives the first ``head_bytes`` of the stream and is then extended
    (sparse) to the full size, so ``qemu-img info`` can look at the headers without the
    whole image being written twice.
    """

    def __init__(
        self,
        store: ChunkStore,
        limits: IngestLimits,
        *,
        expected_size: int | None = None,
        expected_sha256: str | None = None,
        head: IO[bytes] | None = None,
        head_bytes: int = 0,
        workers: int = 3,
    ) -> None:
        if expected_sha256 is not None:
            check_digest(expected_sha256, "declared sha256")
        if expected_size is not None and expected_size > limits.max_size:
            raise _too_large(expected_size, limits.max_size)
        self.store = store
        self.limits = limits
        self.expected_size = expected_size
        self.expected_sha256 = expected_sha256
        self._head = head
        self._head_left = head_bytes if head is not None else 0
        self._image = hashlib.sha256()
        self._filling: mmap.mmap | None = None  # the chunk being filled, ``_filled`` bytes
        self._filled = 0
        self._free: list[mmap.mmap] = []  # chunk buffers whose chunk is written
        self._pending: list[Future[str]] = []
        self._workers = max(1, workers)
        self._window = 2 * self._workers
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="ingest")
        self.received = 0

    def feed(self, blocks: Sequence[Buffer]) -> None:
        """Take the next bytes, in pieces as they came (each copied once, into its chunk:
        they are the caller's again once this returns)."""
        n = sum(len(b) for b in blocks)
        if not n:
            return
        self.received += n
        if self.received > self.limits.max_size:
            raise _too_large(self.received, self.limits.max_size)
        if self.expected_size is not None and self.received > self.expected_size:
            raise InvalidInput(
                "the upload is longer than declared",
                [Problem("body", f"more than the declared {self.expected_size} bytes")],
            )
        for block in blocks:
            self._image.update(block)
            if self._head_left and self._head is not None:
                piece = memoryview(block)[: self._head_left]
                self._head.write(piece)
                self._head_left -= len(piece)
            self._fill(block)

    def _fill(self, block: Buffer) -> None:
        """Copy ``block`` into chunk buffers, emitting each one it fills."""
        size = self.store.chunk_size
        with memoryview(block) as view:
            done = 0
            while done < len(view):
                if self._filling is None:
                    self._filling = self._free.pop() if self._free else aligned_buffer(size)
                take = min(size - self._filled, len(view) - done)
                self._filling[self._filled : self._filled + take] = view[done : done + take]
                self._filled += take
                done += take
                if self._filled == size:
                    self._emit(self._filling)
                    self._filling, self._filled = None, 0

    def _emit(self, chunk: Buffer) -> None:
        if len(self._pending) >= self.limits.max_chunks:
            raise ImageTooLarge(
                "the image has too many chunks",
                [Problem("body", f"more than {self.limits.max_chunks} chunks")],
            )
        if len(self._pending) >= self._window:
            self._pending[-self._window].result()  # wait: bounded chunks in flight
        written = self._pool.submit(_hash_and_put, self.store, chunk)
        if isinstance(chunk, mmap.mmap):  # one of ours: free again once written
            free = self._free  # not self: no cycle keeps the buffers after the ingest
            written.add_done_callback(lambda _: free.append(chunk))
        self._pending.append(written)

    def _sync(self, chunks: tuple[str, ...]) -> None:
        """The commit point of the chunks (see the class docstring): fsync them all."""
        distinct = sorted(set(chunks))
        share = -(-len(distinct) // self._workers) or 1
        parts = [distinct[i : i + share] for i in range(0, len(distinct), share)]
        for done in [self._pool.submit(self.store.sync, part) for part in parts]:
            done.result()

    def close(self) -> None:
        """Stop: wait for chunk writes in flight (they are gc's to collect), no manifest."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._free.clear()

    def finish(self) -> Manifest:
        try:
            if self._filling is not None:  # the last chunk, shorter: a copy of its own
                self._emit(self._filling[: self._filled])
                self._filling = None
            chunks = tuple(f.result() for f in self._pending)
            digest = self._check()
            self._sync(chunks)  # only content that will be named is made durable
        finally:
            self.close()
        if self._head is not None:
            self._head.truncate(self.received)
            self._head.flush()
        return Manifest(digest, self.received, self.store.chunk_size, chunks)

    def _check(self) -> str:
        """The image's sha256, once the whole upload is in and is what was declared."""
        if self.expected_size is not None and self.received < self.expected_size:
            raise TruncatedUpload(
                "the upload ended early",
                [Problem("body", f"got {self.received} of {self.expected_size} bytes")],
            )
        digest = self._image.hexdigest()
        if self.expected_sha256 is not None and digest != self.expected_sha256:
            raise ChecksumMismatch(
                "the image does not match its declared checksum",
                [Problem("sha256", f"declared {self.expected_sha256}, content is {digest}")],
            )
        return digest


def _too_large(size: int, limit: int) -> ImageTooLarge:
    return ImageTooLarge(
        "the image is too large", [Problem("body", f"{size} bytes is over the {limit} limit")]
    )


def _next(it: Iterator[bytes]) -> bytes | None:
    return next(it, None)


async def _blocks(stream: AsyncIterable[bytes] | Iterable[bytes]) -> AsyncIterator[bytes]:
    """The stream's blocks; a sync stream is read in a thread."""
    if isinstance(stream, AsyncIterable):
        async for data in stream:
            yield data
    else:
        it = iter(stream)
        while (block := await asyncio.to_thread(_next, it)) is not None:
            yield block


async def _batches(
    stream: AsyncIterable[bytes] | Iterable[bytes], size: int
) -> AsyncIterator[list[bytes]]:
    """The stream's blocks, as they came (none copied), in groups of at least ``size`` bytes
    (the last may be less): one hop to the feeding thread a chunk, and none of the bytes
    touched on the event loop."""
    batch: list[bytes] = []
    held = 0
    async for data in _blocks(stream):
        batch.append(data)
        held += len(data)
        if held >= size:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


async def ingest_stream(ingest: Ingest, stream: AsyncIterable[bytes] | Iterable[bytes]) -> Manifest:
    """Drive ``ingest`` from a sync or async byte stream, off the event loop.

    Reading the next batch overlaps with hashing and writing the previous one.
    """
    feeding: asyncio.Future[None] | None = None
    try:
        async for batch in _batches(stream, ingest.store.chunk_size):
            if feeding is not None:
                await feeding
            feeding = asyncio.ensure_future(asyncio.to_thread(ingest.feed, batch))
        if feeding is not None:
            await feeding
        return await asyncio.to_thread(ingest.finish)
    finally:
        if feeding is not None and not feeding.done():
            with contextlib.suppress(BaseException):  # a thread cannot be cancelled: wait
                await feeding
        await asyncio.to_thread(ingest.close)


def read_file_blocks(fh: BinaryIO, block: int = 4 * 1024 * 1024) -> Iterable[bytes]:
    while data := fh.read(block):
        yield data


class ManifestDir:
    """Manifests as ``<root>/<image_id>.json``, written by rename (never half visible)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, image_id: str) -> Path:
        if not _ID.fullmatch(image_id):
            raise InvalidInput("bad image id", [Problem("image_id", f"{image_id!r} not allowed")])
        return self.root / f"{image_id}.json"

    def save(self, image_id: str, manifest: Manifest) -> None:
        path = self._path(image_id)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        with tmp.open("w") as fh:
            json.dump(manifest.to_json(), fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.rename(path)

    def load(self, image_id: str) -> Manifest:
        try:
            data = json.loads(self._path(image_id).read_text())
        except FileNotFoundError as exc:
            raise NotFound(f"image {image_id} has no manifest") from exc
        return Manifest.from_json(data, f"manifest of {image_id}")

    def has(self, image_id: str) -> bool:
        return self._path(image_id).is_file()

    def delete(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(image_id).unlink()

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json") if not p.name.startswith("."))

    def live_chunks(self) -> set[str]:
        """Every chunk any stored manifest names: the mark set for ``ChunkStore.gc``."""
        return {c for i in self.ids() for c in self.load(i).chunks}
