"""The hub side of image distribution: an aiohttp sub-application.

Mount it with ``app.add_subapp("/images-api", build_image_app(...))``, or add
:func:`image_routes` to the hub's own router. It serves, for an image id the hub knows:

- ``GET  /v1/images/{image_id}/manifest`` -> the manifest JSON;
- ``GET  /v1/images/{image_id}/chunks/{sha256}`` -> one chunk's bytes (HTTP Range works;
  the chunk must belong to that image's manifest, so authorization is per image);
- ``GET  /v1/images/{image_id}/file`` -> the whole image, streamed from its chunks (for
  ``atoll image download``), with ``X-Image-Sha256``;
- ``PUT  /v1/images/{image_id}/file?disk_format=F`` (optional ``X-Image-Sha256`` header and
  ``Content-Length``) -> streams the body into the chunk store, validates it and hands the
  result to ``on_upload`` (which records the manifest and the catalog entry); 201 with
  the result. Refusals are 4xx with the reasons; nothing is recorded.

The hub plugs in its own pieces: ``lookup(image_id)`` returns the manifest or raises
NotFound; ``authorize(request, image_id, action)`` (action ``"read"`` or ``"write"``)
raises Unauthenticated or Forbidden — a bearer token today, the site's mTLS identity later;
``on_quarantine(image_id, digest)`` (optional) hears of a chunk found corrupt while serving.

A share of the chunks served (``verify_on_serve``) is hashed first: a corrupt one is
quarantined and refused (503 ``chunk_quarantined``), never sent. A download already under
way when it meets one is aborted, so the client sees a cut, not a clean end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import NoReturn

import aiohttp
from aiohttp import web

from atoll.errors import AtollError, InvalidInput, NotFound, Problem
from atoll.images.chunks import ChunkStore, check_digest
from atoll.images.errors import ChunkQuarantined, TruncatedUpload, UploadStalled
from atoll.images.manifest import Manifest
from atoll.images.settings import ImageSettings
from atoll.images.upload import IngestResult, ingest_image

log = logging.getLogger(__name__)

Lookup = Callable[[str], Awaitable[Manifest]]
Authorize = Callable[[web.Request, str, str], Awaitable[None]]
OnUpload = Callable[[str, IngestResult], Awaitable[None]]
OnQuarantine = Callable[[str, str], Awaitable[None]]
UPLOAD_IDLE_TIMEOUT = 60.0

STORE_KEY = web.AppKey("atoll_images_store", ChunkStore)


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """AtollError -> the JSON error shape; anything else -> 500 without a traceback."""
    try:
        return await handler(request)
    except AtollError as exc:
        body: dict[str, object] = {"code": exc.code, "message": exc.message}
        if isinstance(exc, InvalidInput):
            body["message"] = exc.summary
            body["problems"] = [{"where": p.where, "what": p.what} for p in exc.problems]
        return web.json_response({"error": body}, status=exc.http_status)


class ImageRoutes:
    def __init__(
        self,
        store: ChunkStore,
        lookup: Lookup,
        authorize: Authorize,
        settings: ImageSettings,
        on_upload: OnUpload | None,
        *,
        on_quarantine: OnQuarantine | None = None,
        upload_idle_timeout: float = UPLOAD_IDLE_TIMEOUT,
    ) -> None:
        self.store = store
        self.lookup = lookup
        self.authorize = authorize
        self.settings = settings
        self.on_upload = on_upload
        self.on_quarantine = on_quarantine
        self.upload_idle_timeout = upload_idle_timeout

    def sample(self) -> bool:
        """Whether to hash this chunk before serving it (``verify_on_serve`` of them)."""
        share = self.settings.verify_on_serve
        return share >= 1.0 or (share > 0.0 and random.random() < share)

    async def read_verified(self, image_id: str, digest: str) -> bytes:
        """The chunk, hashed first; a corrupt one is quarantined, reported and refused."""
        try:
            return await asyncio.to_thread(self.store.read_verified, digest)
        except ChunkQuarantined:
            if self.on_quarantine is not None:
                await self.on_quarantine(image_id, digest)
            raise

    async def manifest(self, request: web.Request) -> web.Response:
        image_id = request.match_info["image_id"]
        await self.authorize(request, image_id, "read")
        manifest = await self.lookup(image_id)
        return web.json_response(manifest.to_json())

    async def chunk(self, request: web.Request) -> web.StreamResponse:
        image_id, digest = request.match_info["image_id"], request.match_info["sha256"]
        check_digest(digest, "path.sha256")
        await self.authorize(request, image_id, "read")
        manifest = await self.lookup(image_id)
        if digest not in manifest.chunk_set:
            raise NotFound(f"image {image_id} has no chunk {digest}")
        path = self.store.path(digest)
        if not path.is_file():
            self.absent(image_id, digest)
        headers = {"Content-Type": "application/octet-stream", "X-Chunk-Sha256": digest}
        if self.sample() and "Range" not in request.headers:
            return web.Response(body=await self.read_verified(image_id, digest), headers=headers)
        if "Range" in request.headers or not _over_tls(request):
            return web.FileResponse(path, headers=headers)  # plain HTTP: sendfile is best
        return await _stream_file(request, path, headers)

    def absent(self, image_id: str, digest: str) -> NoReturn:
        """Raise why a chunk the manifest names is not in the store (quarantined or lost)."""
        if self.store.quarantined(digest):
            raise ChunkQuarantined(
                f"chunk {digest} of image {image_id} failed its sha256 check on the hub and is "
                "quarantined; upload the image's content again to repair it"
            )
        log.error("chunk %s of image %s is missing from the store", digest, image_id)
        raise NotFound(f"chunk {digest} of image {image_id} is missing on the hub")

    async def download(self, request: web.Request) -> web.StreamResponse:
        image_id = request.match_info["image_id"]
        await self.authorize(request, image_id, "read")
        manifest = await self.lookup(image_id)
        for digest in manifest.chunk_set:
            if not self.store.has(digest):
                self.absent(image_id, digest)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(manifest.size),
                "X-Image-Sha256": manifest.sha256,
            }
        )
        for digest in manifest.chunks:
            try:
                if self.sample():
                    data = await self.read_verified(image_id, digest)
                else:
                    data = await asyncio.to_thread(self.store.read, digest)
            except AtollError:
                if not resp.prepared:
                    raise  # nothing sent yet: the error reply says why
                if request.transport is not None:
                    request.transport.abort()  # a cut, never a clean end of corrupt data
                return resp
            if not resp.prepared:
                await resp.prepare(request)
            await resp.write(data)
        if not resp.prepared:
            await resp.prepare(request)
        await resp.write_eof()
        return resp

    async def upload(self, request: web.Request) -> web.Response:
        image_id = request.match_info["image_id"]
        await self.authorize(request, image_id, "write")
        disk_format = request.query.get("disk_format", "")
        if not disk_format:
            raise InvalidInput("no disk format", [Problem("query.disk_format", "required")])
        declared = request.headers.get("X-Image-Sha256")
        result = await ingest_image(
            request_blocks(request, self.upload_idle_timeout),
            self.store,
            self.settings,
            disk_format=disk_format,
            expected_sha256=declared.lower() if declared else None,
            expected_size=request.content_length,
        )
        if self.on_upload is not None:
            await self.on_upload(image_id, result)
        return web.json_response({"image_id": image_id, **result.to_json()}, status=201)


async def request_blocks(request: web.Request, idle_timeout: float) -> AsyncIterator[bytes]:
    """An upload's body in the blocks it arrives in (each as the connection delivered it,
    never joined into a copy).

    A connection cut mid-body is a :class:`TruncatedUpload`; no byte for ``idle_timeout``
    seconds (a client that declared more than it sends) is an :class:`UploadStalled`.
    """
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                data, chunk_end = await request.content.readchunk()
        except TimeoutError as exc:
            raise UploadStalled(
                "the upload stalled",
                [Problem("body", f"no data for {idle_timeout:g} s; upload again")],
            ) from exc
        except (aiohttp.ClientError, ConnectionError, asyncio.IncompleteReadError) as exc:
            raise TruncatedUpload(
                "the upload was cut",
                [Problem("body", f"the connection ended: {exc or type(exc).__name__}")],
            ) from exc
        if data:
            yield data
        elif not chunk_end:  # (b"", True) is the end of an HTTP chunk, (b"", False) the body's
            return


def image_routes(
    store: ChunkStore,
    lookup: Lookup,
    authorize: Authorize,
    *,
    settings: ImageSettings | None = None,
    on_upload: OnUpload | None = None,
    prefix: str = "",
) -> list[web.RouteDef]:
    """The routes alone, to add to an app that has its own error middleware (the hub's)."""
    routes = ImageRoutes(store, lookup, authorize, settings or ImageSettings(), on_upload)
    base = f"{prefix.rstrip('/')}/v1/images/{{image_id}}"
    return [
        web.get(f"{base}/manifest", routes.manifest),
        web.get(f"{base}/chunks/{{sha256}}", routes.chunk),
        web.get(f"{base}/file", routes.download),
        web.put(f"{base}/file", routes.upload),
    ]


def build_image_app(
    store: ChunkStore,
    lookup: Lookup,
    authorize: Authorize,
    *,
    settings: ImageSettings | None = None,
    on_upload: OnUpload | None = None,
    error_middleware: bool = True,
) -> web.Application:
    """The image routes as a sub-application (see the module docstring).

    With ``error_middleware`` (the default) refusals get the JSON error shape here; an app
    whose own middleware already does that (and adds request ids) passes False.
    """
    app = web.Application(middlewares=[_errors] if error_middleware else [])
    app[STORE_KEY] = store
    app.add_routes(image_routes(store, lookup, authorize, settings=settings, on_upload=on_upload))
    return app


# Over TLS (no sendfile) aiohttp's FileResponse falls back to 64 KiB reads, which held site
# pulls to a fifth of the speed of these 1 MiB reads.
STREAM_BLOCK = 1024 * 1024


def _over_tls(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


async def _stream_file(
    request: web.Request, path: Path, headers: dict[str, str]
) -> web.StreamResponse:
    with await asyncio.to_thread(path.open, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        response = web.StreamResponse(headers={**headers, "Content-Length": str(size)})
        await response.prepare(request)
        while block := await asyncio.to_thread(fh.read, STREAM_BLOCK):
            await response.write(block)
    await response.write_eof()
    return response
