"""A real aiohttp image server on loopback for the transfer tests, with fault injection.

The image sub-application of :mod:`atoll.images.serve` is mounted in an outer app whose
middleware can cut the link after N chunk requests, or flip a byte of a chunk on the wire.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from atoll.errors import NotFound, Unauthenticated
from atoll.images.chunks import ChunkStore
from atoll.images.manifest import Manifest, ManifestDir
from atoll.images.serve import build_image_app
from atoll.images.settings import ImageSettings
from atoll.images.upload import IngestResult

TOKEN = "site-token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Faults:
    cut_after: int | None = None  # chunk requests served before the link goes down
    corrupt: set[str] = field(default_factory=set)  # digests to flip once on the wire
    stall: set[str] = field(default_factory=set)  # digests whose body stops halfway...
    unstall: asyncio.Event = field(default_factory=asyncio.Event)  # ...until this is set
    stalled: asyncio.Event = field(default_factory=asyncio.Event)  # set once one stalls
    chunked: set[str] = field(default_factory=set)  # digests sent without a Content-Length
    served: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: int = 0


@dataclass
class Hub:
    url: str
    store: ChunkStore
    manifests: ManifestDir
    faults: Faults
    uploads: list[str]


Authorize = Callable[[web.Request, str, str], Awaitable[None]]


@asynccontextmanager
async def hub_server(
    root: Path,
    settings: ImageSettings,
    *,
    ssl_context: ssl.SSLContext | None = None,
    authorize: Authorize | None = None,
) -> AsyncIterator[Hub]:
    store = ChunkStore(root / "chunks", settings.chunk_size, fsync=False)
    manifests = ManifestDir(root / "manifests")
    faults = Faults()
    uploads: list[str] = []

    async def lookup(image_id: str) -> Manifest:
        return manifests.load(image_id)

    async def bearer(request: web.Request, image_id: str, action: str) -> None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise Unauthenticated("a bearer token is needed")

    async def on_upload(image_id: str, result: IngestResult) -> None:
        manifests.save(image_id, result.manifest)
        uploads.append(image_id)

    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "/chunks/" not in request.path:
            return await handler(request)
        digest = request.path.rsplit("/", 1)[1]
        faults.requests += 1
        if faults.cut_after is not None and faults.requests > faults.cut_after:
            resp = web.StreamResponse(headers={"Content-Length": str(store.size(digest))})
            await resp.prepare(request)
            await resp.write(store.read(digest)[:1000])
            raise ConnectionResetError("link cut by the test")
        if digest in faults.stall:
            resp = web.StreamResponse(headers={"Content-Length": str(store.size(digest))})
            await resp.prepare(request)
            await resp.write(store.read(digest)[:1000])
            faults.stalled.set()
            await faults.unstall.wait()
            raise ConnectionResetError("stalled link cut by the test")
        if digest in faults.chunked:
            resp = web.StreamResponse()
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            body = store.read(digest)
            for i in range(0, len(body), 100_000):
                await resp.write(body[i : i + 100_000])
            await resp.write_eof()
            faults.served[digest] += 1
            return resp
        if digest in faults.corrupt:
            faults.corrupt.discard(digest)
            data = bytearray(store.read(digest))
            data[len(data) // 2] ^= 0xFF
            return web.Response(body=bytes(data), content_type="application/octet-stream")
        resp = await handler(request)
        faults.served[digest] += 1
        return resp

    outer = web.Application(middlewares=[inject], client_max_size=1 << 20)
    outer.add_subapp("/hub", build_image_app(store, lookup, authorize or bearer,
                                              settings=settings, on_upload=on_upload))  # fmt: skip
    runner = web.AppRunner(outer)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        scheme = "https" if ssl_context else "http"
        yield Hub(f"{scheme}://127.0.0.1:{port}/hub", store, manifests, faults, uploads)
    finally:
        await runner.cleanup()


async def missing(manifests: ManifestDir, image_id: str) -> bool:
    try:
        manifests.load(image_id)
    except NotFound:
        return True
    return False
