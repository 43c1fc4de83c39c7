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
raises Unauthenticated or Forbidden — a bearer token today, the site's mTLS identity later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from atoll.errors import AtollError, InvalidInput, NotFound, Problem
from atoll.images.chunks import ChunkStore, check_digest
from atoll.images.errors import TruncatedUpload
from atoll.images.manifest import Manifest
from atoll.images.settings import ImageSettings
from atoll.images.upload import IngestResult, ingest_image

log = logging.getLogger(__name__)

Lookup = Callable[[str], Awaitable[Manifest]]
Authorize = Callable[[web.Request, str, str], Awaitable[None]]
OnUpload = Callable[[str, IngestResult], Awaitable[None]]
UPLOAD_BLOCK = 1024 * 1024

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
    ) -> None:
        self.store = store
        self.lookup = lookup
        self.authorize = authorize
        self.settings = settings
        self.on_upload = on_upload

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
            log.error("chunk %s of image %s is missing from the store", digest, image_id)
            raise NotFound(f"chunk {digest} of image {image_id} is missing on the hub")
        return web.FileResponse(
            path,
            headers={"Content-Type": "application/octet-stream", "X-Chunk-Sha256": digest},
        )

    async def download(self, request: web.Request) -> web.StreamResponse:
        image_id = request.match_info["image_id"]
        await self.authorize(request, image_id, "read")
        manifest = await self.lookup(image_id)
        missing = [c for c in manifest.chunk_set if not self.store.has(c)]
        if missing:
            log.error("image %s misses %d chunks in the store", image_id, len(missing))
            raise NotFound(f"image {image_id} is missing {len(missing)} chunks on the hub")
        resp = web.StreamResponse(
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(manifest.size),
                "X-Image-Sha256": manifest.sha256,
            }
        )
        await resp.prepare(request)
        for digest in manifest.chunks:
            await resp.write(await asyncio.to_thread(self.store.read, digest))
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
            _body(request),
            self.store,
            self.settings,
            disk_format=disk_format,
            expected_sha256=declared.lower() if declared else None,
            expected_size=request.content_length,
        )
        if self.on_upload is not None:
            await self.on_upload(image_id, result)
        return web.json_response({"image_id": image_id, **result.to_json()}, status=201)


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    """The request body in blocks; a connection cut mid-body is a truncated upload."""
    try:
        async for block in request.content.iter_chunked(UPLOAD_BLOCK):
            yield block
    except (aiohttp.ClientError, ConnectionError, asyncio.IncompleteReadError) as exc:
        raise TruncatedUpload(
            "the upload was cut", [Problem("body", f"the connection ended: {exc}")]
        ) from exc


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
