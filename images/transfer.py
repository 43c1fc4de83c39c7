"""The site side of image distribution: fetch a manifest's chunks, verify, assemble.

:class:`ChunkFetcher` talks to the routes of :mod:`atoll.images.serve` under ``base_url``.
For one image it:

1. gets the manifest (or takes one the caller already has, e.g. from sync);
2. skips every chunk it already has: in the partial image an earlier, cut transfer left
   (``keep_chunks=False``: :meth:`~atoll.images.assemble.Assembly.recover` hashes it), in
   the site's local :class:`~atoll.images.chunks.ChunkStore` (``keep_chunks=True``: the
   store *is* the progress kept on disk, a chunk lands there only after its sha256 checked
   out), in an image file the site holds that shares it, or a zero chunk (a hole);
3. fetches the missing ones, ``concurrency`` at a time, under a token-bucket bandwidth cap,
   each verified against its sha256; a corrupt or cut chunk is fetched again, up to
   ``retries`` times, then the transfer fails with :class:`TransferError` (a retry later
   resumes where it stopped);
4. assembles the image in ``dest_dir`` under a temporary name as the chunks arrive
   (:class:`~atoll.images.assemble.Assembly`): each fetched chunk is received, hashed and
   written into place (and into the store, if chunks are kept) by one of the worker threads
   of :class:`~atoll.images.chunk_wire.ChunkWire`, ``concurrency`` chunks at once, off the
   event loop; the chunks held in the store are read back, hashed and written beside them.
   Every byte is hashed once, against its chunk's sha256 (the chunks in manifest
   order are the image the hub hashed); zero chunks become holes; one fsync, then the file
   is renamed into place.

Progress goes to ``progress(done_bytes, total_bytes)`` after every chunk.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from atoll.client.aio import AsyncClient, new_session, read_reply
from atoll.client.core import MAX_REPLY, decode_body
from atoll.errors import AtollError, InvalidInput, NotFound
from atoll.images.assemble import Assembly, zero_digest
from atoll.images.chunk_wire import ChunkWire
from atoll.images.chunks import ChunkStore
from atoll.images.errors import ChunkCorrupt, LinkFailed, TransferError
from atoll.images.manifest import Manifest
from atoll.images.ratelimit import TokenBucket

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
LocalImages = Callable[[], Iterable[tuple[Path, Manifest]]]
# what the manifest's connection buffers before it stops reading (aiohttp's default,
# 64 KiB, pauses and resumes the socket every few TLS records); chunks go by the ChunkWire
READ_BUFSIZE = 1024 * 1024


@dataclass(frozen=True)
class FetchResult:
    path: Path
    manifest: Manifest
    chunks_fetched: int  # chunk bodies that travelled (retries included)
    chunks_reused: int  # distinct chunks already held locally
    bytes_fetched: int  # body bytes received from the hub (retries included)


@dataclass
class _Counters:
    chunks: int = 0
    bytes: int = 0
    done: int = 0


class ChunkFetcher:
    """Fetches images from one hub into ``dest_dir``, keeping chunks in ``chunks``.

    The site's chunk store may be opened with ``fsync=False``: a chunk a crash left wrong
    is caught by its length or, when the image is assembled, by its sha256, and fetched
    again. ``ssl_context`` carries the site certificate (mTLS) and the hub's CA; ``headers``
    any token the hub wants.

    ``local_images`` (optional) lists the image files the site holds with their manifests;
    a missing chunk found in one of them is read from there (verified) instead of fetched.
    With ``keep_chunks=False`` fetched chunks are written once, into the image, never into
    the store: a cut transfer leaves its partial image (``.<name>.part`` in ``dest_dir``)
    and the next fetch of that image resumes from it; chunks an older version left in the
    store are used, then dropped once the image is assembled. A site then holds each image
    once, as its file, and reuse goes through ``local_images``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        dest_dir: Path,
        chunks: ChunkStore,
        ssl_context: ssl.SSLContext | bool | None = None,
        headers: Mapping[str, str] | None = None,
        bandwidth_bps: int = 0,
        concurrency: int = 4,
        retries: int = 5,
        retry_delay: float = 0.2,
        timeout: float = 60.0,
        progress: Progress | None = None,
        local_images: LocalImages | None = None,
        keep_chunks: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.dest_dir = Path(dest_dir)
        self.chunks = chunks
        self.ssl_context = ssl_context
        self.headers = dict(headers or {})
        self.bucket = TokenBucket(bandwidth_bps)
        self.concurrency = max(1, concurrency)
        self.retries = max(1, retries)
        self.retry_delay = retry_delay
        self.timeout = timeout  # seconds, to connect and between two reads
        self.progress = progress
        self.local_images = local_images
        self.keep_chunks = keep_chunks
        self._in_flight: collections.Counter[str] = collections.Counter()
        self.dest_dir.mkdir(parents=True, exist_ok=True)

    def _session(self) -> aiohttp.ClientSession:
        ssl_arg: ssl.SSLContext | bool = True if self.ssl_context is None else self.ssl_context
        return new_session(
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self.timeout, sock_read=self.timeout
            ),
            connector=aiohttp.TCPConnector(ssl=ssl_arg, limit=self.concurrency),
            read_bufsize=READ_BUFSIZE,
        )

    async def fetch_manifest(self, image_id: str) -> Manifest:
        async with self._session() as session:
            return await self._manifest(session, image_id)

    async def _manifest(self, session: aiohttp.ClientSession, image_id: str) -> Manifest:
        url = f"{self.base_url}/v1/images/{image_id}/manifest"
        try:
            async with session.get(url) as resp:
                await _raise_for_status(resp, f"manifest of image {image_id}")
                data = decode_body(await read_reply(resp, MAX_REPLY, "the image service"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransferError(f"cannot get the manifest of image {image_id}: {exc}") from exc
        return Manifest.from_json(data, f"manifest of image {image_id} from {self.base_url}")

    async def fetch(
        self, image_id: str, name: str | None = None, manifest: Manifest | None = None
    ) -> FetchResult:
        """Bring image ``image_id`` to ``dest_dir/name`` (default: the image id), verified."""
        dest = self.dest_dir / (name or image_id)
        if dest.name != (name or image_id) or dest.name.startswith("."):
            raise InvalidInput(f"{name or image_id!r} cannot name a file in {self.dest_dir}")
        counters = _Counters()
        if manifest is None:
            async with self._session() as session:
                manifest = await self._manifest(session, image_id)
        wire = ChunkWire(
            self.base_url,
            ssl_context=self.ssl_context,
            headers=self.headers,
            timeout=self.timeout,
            concurrency=self.concurrency,
            buffer_size=manifest.chunk_size,
        )
        self._in_flight.update(manifest.chunk_set)
        try:
            missing = await self._bring(wire, image_id, manifest, dest, counters)
            if not self.keep_chunks:
                await asyncio.to_thread(self._release, manifest)
        finally:
            wire.close()
            self._in_flight.subtract(manifest.chunk_set)
            self._in_flight = +self._in_flight  # drop the zero counts
        reused = len(manifest.chunk_set) - len(missing)
        return FetchResult(dest, manifest, counters.chunks, reused, counters.bytes)

    async def _bring(
        self,
        wire: ChunkWire,
        image_id: str,
        manifest: Manifest,
        dest: Path,
        counters: _Counters,
    ) -> list[str]:
        """Fetch what is missing and assemble; returns the chunks that had to travel."""
        resume = not self.keep_chunks  # no chunks kept: the partial image is the progress
        assembly = await asyncio.to_thread(Assembly, self.chunks, manifest, dest, resume=resume)
        try:
            missing, held = await asyncio.to_thread(self._sort, manifest, counters, assembly)
            self._report(counters, manifest)
            await self._fetch_and_assemble(
                wire, image_id, manifest, missing, held, counters, assembly
            )
        except BaseException:
            await asyncio.to_thread(assembly.abort)  # waits for a chunk being placed
            raise
        return missing

    def _release(self, manifest: Manifest) -> None:
        """Drop this image's chunks that no other transfer in progress needs."""
        for digest in manifest.chunk_set:
            if self._in_flight[digest] <= 1:
                self.chunks.discard(digest)

    async def _fetch_and_assemble(
        self,
        wire: ChunkWire,
        image_id: str,
        manifest: Manifest,
        missing: list[str],
        held: list[str],
        counters: _Counters,
        assembly: Assembly,
    ) -> None:
        """Fetch the missing chunks, each placed into the image as it arrives, while the
        chunks held in the store are read back, verified and placed beside them."""
        placing = asyncio.create_task(asyncio.to_thread(self._place_held, assembly, held))
        try:
            await self._fetch_all(wire, image_id, manifest, missing, counters, assembly)
            bad = await placing
            if bad:  # a local chunk rotted since it was stored: fetch those again, once
                log.warning("image %s: %d local chunks were corrupt", image_id, len(bad))
                await self._fetch_all(wire, image_id, manifest, bad, _Counters(), assembly)
            await asyncio.to_thread(assembly.finish)
        except BaseException:
            await asyncio.to_thread(assembly.abort)  # waits for a chunk being placed
            with contextlib.suppress(BaseException):
                await placing
            raise

    @staticmethod
    def _place_held(assembly: Assembly, digests: list[str]) -> list[str]:
        """Place the chunks held here; the ones that failed their hash."""
        return [d for d in digests if not assembly.place_held(d)]

    def _sort(
        self, manifest: Manifest, counters: _Counters, assembly: Assembly
    ) -> tuple[list[str], list[str]]:
        """(chunks to fetch, chunks to place from the store). The rest are done already:
        in the partial image from a cut fetch, zero (a hole), or copied here from an image
        the site holds."""
        local = self._local_index(manifest)
        recovered = assembly.recover()
        uses = collections.Counter(manifest.chunks)
        missing: list[str] = []
        held: list[str] = []
        for i, digest in enumerate(manifest.chunks):
            if digest not in uses:  # met before
                continue
            length = manifest.chunk_length(i)
            done = length * uses.pop(digest)
            if digest in recovered or digest == zero_digest(length):
                counters.done += done
            elif self._held(digest, length):
                held.append(digest)
                counters.done += done
            elif self._copy_local(digest, length, local, assembly):
                counters.done += done
            else:
                missing.append(digest)
        return missing, held

    def _local_index(self, manifest: Manifest) -> dict[str, tuple[Path, int]]:
        """Where chunks of ``manifest`` sit in image files the site already holds."""
        if self.local_images is None:
            return {}
        index: dict[str, tuple[Path, int]] = {}
        for path, held in self.local_images():
            for i, digest in enumerate(held.chunks):
                if digest in manifest.chunk_set and digest not in index:
                    index[digest] = (path, i * held.chunk_size)
        return index

    def _copy_local(
        self, digest: str, length: int, index: dict[str, tuple[Path, int]], assembly: Assembly
    ) -> bool:
        if digest not in index:
            return False
        path, offset = index[digest]
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read(length)
        except OSError:
            return False
        if len(data) != length or hashlib.sha256(data).hexdigest() != digest:
            log.warning("local image %s does not hold chunk %s where its manifest says", path,
                        digest)  # fmt: skip
            return False
        if self.keep_chunks:
            self.chunks.put(data, digest)
        assembly.place(digest, [data])
        return True

    def _held(self, digest: str, length: int) -> bool:
        """Held with the right length (a chunk left short by a crash is fetched again)."""
        try:
            return self.chunks.size(digest) == length
        except NotFound:
            return False

    def _report(self, counters: _Counters, manifest: Manifest) -> None:
        if self.progress is not None:
            self.progress(min(counters.done, manifest.size), manifest.size)

    async def _fetch_all(
        self,
        wire: ChunkWire,
        image_id: str,
        manifest: Manifest,
        digests: list[str],
        counters: _Counters,
        assembly: Assembly,
    ) -> None:
        lengths = {d: manifest.chunk_length(i) for i, d in enumerate(manifest.chunks)}
        uses = collections.Counter(manifest.chunks)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for d in digests:
            queue.put_nowait(d)

        async def worker() -> None:
            while not queue.empty():
                digest = queue.get_nowait()
                await self._fetch_chunk(wire, image_id, digest, lengths[digest], counters,
                                        assembly)  # fmt: skip
                counters.done += lengths[digest] * uses[digest]
                self._report(counters, manifest)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.concurrency, len(digests))):
                    group.create_task(worker())
        except* Exception as failed:
            raise failed.exceptions[0] from None  # the first failure says what went wrong

    async def _fetch_chunk(
        self,
        wire: ChunkWire,
        image_id: str,
        digest: str,
        length: int,
        counters: _Counters,
        assembly: Assembly,
    ) -> None:
        """Fetch the chunk, verify it and place it in the image (and store it, when chunks
        are kept)."""
        path = f"/v1/images/{image_id}/chunks/{digest}"
        last = ""
        corrupt = 0
        for attempt in range(self.retries):
            if attempt:
                await asyncio.sleep(self.retry_delay * 2 ** min(attempt - 1, 5))
            try:
                size = await self._receive_and_keep(wire, path, digest, length, counters,
                                                    assembly)  # fmt: skip
            except LinkFailed as exc:  # not an error of this site's own (its disk)
                last = str(exc)
                log.info("chunk %s of image %s: attempt %d failed: %s", digest, image_id,
                         attempt + 1, last)  # fmt: skip
                continue
            if size is None:
                return
            corrupt += 1
            last = f"received {size} bytes that do not hash to {digest}"
            log.warning("chunk %s of image %s arrived corrupt; fetching it again", digest, image_id)
        if corrupt == self.retries:
            raise ChunkCorrupt(f"chunk {digest} of image {image_id} kept arriving corrupt")
        raise TransferError(
            f"chunk {digest} of image {image_id} failed {self.retries} times (last: {last}); "
            "fetching again resumes from the chunks already here"
        )

    async def _receive_and_keep(
        self,
        wire: ChunkWire,
        path: str,
        digest: str,
        length: int,
        counters: _Counters,
        assembly: Assembly,
    ) -> int | None:
        """One attempt, on one of the wire's threads: receive the chunk, then keep it (see
        :meth:`_keep`); None once kept, else the number of bytes that arrived."""
        loop = asyncio.get_running_loop()
        throttle = None
        if self.bucket.rate > 0:

            def throttle(n: int) -> None:
                asyncio.run_coroutine_threadsafe(self.bucket.take(n), loop).result()

        def attempt() -> tuple[int, bool]:
            try:
                got = wire.get(conn, path, length, f"chunk {digest}", throttle)
                kept = got.body is not None and self._keep(got.body, digest, length, assembly)
                return got.size, kept
            finally:
                wire.give_back(conn)  # its buffer is free again

        conn = wire.take()
        job = loop.run_in_executor(wire.threads, attempt)
        try:
            received, kept = await asyncio.shield(job)
        except asyncio.CancelledError:
            # another chunk failed the fetch: a read under way stops, a chunk here whole
            # lands first (a resume starts from it) before the assembly is given up
            conn.interrupt()
            with contextlib.suppress(Exception):
                await job
            raise
        counters.chunks += 1
        counters.bytes += received
        return None if kept else received

    def _keep(self, body: memoryview, digest: str, length: int, assembly: Assembly) -> bool:
        """Place (and store, when chunks are kept) the chunk if it is what the manifest says
        (its one hash); whether it was."""
        if len(body) != length or hashlib.sha256(body).hexdigest() != digest:
            return False
        if self.keep_chunks:
            self.chunks.put(body, digest)  # the progress a resume starts from
        assembly.place(digest, [body])
        return True


async def _raise_for_status(resp: aiohttp.ClientResponse, what: str) -> None:
    """A failed reply as the error it stands for (decoded by the one client core); one a
    retry can help (5xx, 429) as a TransferError, so the fetch loop tries again."""
    try:
        await AsyncClient.raise_for_status(resp)
    except AtollError as exc:
        if exc.retryable:
            raise TransferError(f"the hub answered {resp.status} for {what}: {exc}") from exc
        raise
