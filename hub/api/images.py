"""``/v1/images``: the image catalog, streaming download, and the routes sites pull by.

Create a record (``POST``, status ``queued``), then upload its bytes with ``PUT
/v1/images/{id}/file`` (:mod:`.image_uploads`: streamed, checked against the project's
``image_bytes_limit`` and ``image_uploads_per_project``, validated; the image is ``active``
only then, else ``killed`` with its ``status_reason``).

An upload records the image's sha256; its sha-512 (``checksum_sha512``, null until then)
follows moments later, computed from the stored chunks in the background
(:mod:`atoll.hub.catalog.image_sha512`), as it is at start for images that have none.

Stored chunks are hashed again before a share of them is served (``[images]
verify_on_serve``) and all of them by a periodic scrub (``scrub_interval``, or now with
``POST /v1/images/scrub``); a corrupt chunk is quarantined, never served, and its image shows
the damage (:mod:`atoll.hub.catalog.image_integrity`) until the same content is uploaded to
it again, which repairs it.

Sites pull with ``GET .../manifest`` and ``GET .../chunks/{sha256}`` (the handlers of
:mod:`atoll.images.serve`, authorized by the hub's tokens and the image's visibility).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

from aiohttp import web

from atoll import ids
from atoll.api.routing import Route
from atoll.api.schema import Field
from atoll.background import Loop, LoopSettings
from atoll.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Problem,
    StaleRevision,
)
from atoll.hub.api import records
from atoll.hub.api.context import HUB, Hub, claims_of, hub_of, now_iso
from atoll.hub.api.image_shapes import (
    IMAGE,
    IMAGE_CREATE,
    IMAGE_FILTERS,
    IMAGE_ID,
    MANIFEST,
    SCRUB_REPORT,
    SHA256_PATTERN,
)
from atoll.hub.api.replies import (
    no_content,
    page_params,
    page_reply,
    path_id,
    query_filters,
    read_body,
    reply,
)
from atoll.hub.catalog import images as catalog
from atoll.hub.catalog.image_files import ImageFiles
from atoll.hub.catalog.image_integrity import Scrubber, refresh_damage
from atoll.hub.catalog.image_sha512 import ImageSha512
from atoll.hub.catalog.images import Image
from atoll.hub.identity.limits import check_room
from atoll.hub.store.base import Record, Store
from atoll.hub.store.query import list_all
from atoll.images.manifest import Manifest
from atoll.images.serve import ImageRoutes
from atoll.images.settings import ImageSettings
from atoll.settings import load
from atoll.timestamps import iso

log = logging.getLogger(__name__)

KIND = catalog.KIND
PATH = {"image_id": IMAGE_ID}
FILES = web.AppKey("image_files", ImageFiles)


class _Serve:
    """The :mod:`atoll.images.serve` handlers, made on first use (the store's dirs with them)."""

    def __init__(self, make: Callable[[], ImageRoutes]) -> None:
        self._make = make

    @functools.cached_property
    def routes(self) -> ImageRoutes:
        return self._make()


SERVE = web.AppKey("image_serve", _Serve)
SCRUBBER = web.AppKey("image_scrubber", Scrubber)
SHA512 = web.AppKey("image_sha512", ImageSha512)
GC_INTERVAL = 3600.0
BINARY = ("application/octet-stream",)


def install(app: web.Application, hub: Hub, settings: ImageSettings | None = None) -> None:
    """Give the app its image store (``DATA_DIR/images``; limits from ``[images]``)."""
    settings = settings or load(ImageSettings, "images")
    files = ImageFiles(hub.settings.data_dir / "images", settings)
    app[FILES] = files

    async def lookup(image_id: str) -> Manifest:
        return await _manifest_of(hub.store, files, image_id)

    async def authorize(request: web.Request, image_id: str, action: str) -> None:
        await visible_image(request)  # the route's policy rule already passed; now visibility

    async def quarantined(image_id: str, digest: str) -> None:
        manifest = await files.manifest(image_id)
        await refresh_damage(hub.store, files, image_id, manifest, iso(hub.clock()))

    app[SERVE] = _Serve(
        lambda: ImageRoutes(
            files.chunks,
            lookup,
            authorize,
            settings,
            None,
            on_quarantine=quarantined,
            upload_idle_timeout=hub.settings.upload_idle_timeout,
        )
    )
    scrubber = app[SCRUBBER] = Scrubber(hub.store, files)
    sha512 = app[SHA512] = ImageSha512(hub.store, files)

    async def sweep(app: web.Application) -> AsyncIterator[None]:
        gc = Loop(
            f"image chunk gc in {files.root}",
            functools.partial(_collect_chunks, files),
            LoopSettings(interval=GC_INTERVAL, initial_delay=GC_INTERVAL),
            logger=log,
        )
        gc.start()
        yield
        await gc.stop()

    async def scrub(app: web.Application) -> AsyncIterator[None]:
        if not settings.scrub_interval:
            yield
            return
        every = settings.scrub_interval
        loop = Loop(
            f"image chunk scrub in {files.root}",
            functools.partial(_scrub_chunks, scrubber, hub),
            LoopSettings(interval=every, initial_delay=every),
            logger=log,
        )
        loop.start()
        yield
        await loop.stop()

    async def backfill(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(sha512.backfill(), name="image-sha512-backfill")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sha512.stop()

    app.cleanup_ctx.append(sweep)
    app.cleanup_ctx.append(scrub)
    app.cleanup_ctx.append(backfill)


async def _collect_chunks(files: ImageFiles) -> None:
    """Drop chunks no manifest names (refused uploads, deleted images) after a grace."""
    report = await files.gc()
    if report is not None and report.removed:
        log.info("image chunk gc freed %d bytes", report.freed_bytes)


async def _scrub_chunks(scrubber: Scrubber, hub: Hub) -> None:
    """Every ``scrub_interval``: hash every chunk, quarantine corrupt ones, mark images."""
    await scrubber.scrub(iso(hub.clock()))


def _image_id(request: web.Request) -> str:
    image_id = path_id(request, "image_id")
    if len(image_id) != 32 or any(c not in "0123456789abcdef" for c in image_id):
        raise NotFound(f"image {image_id} does not exist")
    return image_id


async def visible_image(request: web.Request, image_id: str | None = None) -> Record:
    image_id = image_id or _image_id(request)
    try:
        record = await hub_of(request).store.get(KIND, image_id)
    except NotFound:
        record = None
    if record is None or not catalog.visible(record, claims_of(request)):
        raise NotFound(f"image {image_id} does not exist")
    return record


async def writable_image(request: web.Request) -> tuple[Record, Image]:
    record = await visible_image(request)
    image = Image.of(record)
    if not catalog.may_write(image, claims_of(request)):
        raise Forbidden(f"image {record.key} is public; only its project may change it")
    return record, image


async def _manifest_of(store: Store, files: ImageFiles, image_id: str) -> Manifest:
    image = Image.of(await records.fetch(store, KIND, image_id))
    if image.status != "active":
        raise Conflict(f"image {image_id} is {image.status}: only active images have data")
    try:
        return await files.manifest(image_id)
    except NotFound as exc:
        raise NotFound(
            f"image {image_id} has no data in the hub's image store (source: {image.source}); "
            "upload it with 'atoll image upload'"
        ) from exc


async def list_images(request: web.Request) -> web.Response:
    claims = claims_of(request)
    limit, marker = page_params(request)
    filters = query_filters(request, IMAGE_FILTERS)
    store = hub_of(request).store
    if claims.system:
        page = await records.visible_page(store, KIND, limit, marker, lambda r: True, filters)
    else:  # its project's and public ones (catalog.visible), each read by the store's filter
        mine = [{"visibility": "public"}]
        if claims.project_id is not None:
            mine.append({"project_id": claims.project_id})
        page = await records.union_page(store, KIND, limit, marker, mine, filters)
    return page_reply([Image.of(r).view() for r in page.items], page.next_marker)


async def _check_links(request: web.Request, properties: Mapping[str, Any]) -> None:
    problems = []
    for link in catalog.LINKS:
        target = properties.get(link)
        if target is None:
            continue
        try:
            await visible_image(request, target)
        except NotFound:
            problems.append(Problem(f"body.properties.{link}", f"no image you may use is {target}"))
    if problems:
        raise InvalidInput("the image links images that do not exist", problems)


async def create_image(request: web.Request) -> web.Response:
    claims = claims_of(request)
    body = await read_body(request, IMAGE_CREATE)
    if claims.project is None and not claims.system:
        raise InvalidInput("images belong to a project: use a project-scoped token")
    if body.get("visibility") == "public" and not catalog.may_publish(claims):
        raise Forbidden("only system administrators publish images (visibility public)")
    await _check_links(request, body.get("properties", {}))
    hub = hub_of(request)
    if claims.project_id is not None:  # a system admin's own images are not counted
        await check_room(hub.store, KIND, claims.project_id, hub.settings.image_limit,
                         "images", "image_limit")  # fmt: skip
    image_id = ids.hub_id()
    # private unless asked for, whoever uploads (a system admin's too: publishing is a choice)
    value = catalog.new_image(image_id, body, claims.project, claims.project_id, now_iso(request))
    record = await records.create(hub.store, KIND, image_id, value)
    return reply(Image.of(record).view(), 201, record.revision)


async def show_image(request: web.Request) -> web.Response:
    record = await visible_image(request)
    return reply(Image.of(record).view(), revision=record.revision)


async def _users(store: Store, image_id: str) -> list[str]:
    """What keeps the image in use: VNF packages naming it, images linking it."""
    users = []
    for package in await list_all(store, catalog.PACKAGE_KIND, {}):
        if catalog.uses_by_package(package.value, image_id):
            users.append(f"VNF package {package.key}")
    for image in await list_all(store, KIND, {}):
        link = Image.of(image).links_to(image_id)
        if link is not None:
            users.append(f"image {image.key} ({link})")
    return users


async def delete_image(request: web.Request) -> web.Response:
    record, image = await writable_image(request)
    store = hub_of(request).store
    users = await _users(store, record.key)
    if users:
        raise Conflict(
            f"image {record.key} is in use by {', '.join(users[:10])}; remove those first"
        )
    if image.status == "saving":
        raise Conflict(f"image {record.key} is being uploaded; wait for the upload to end")
    await records.remove(store, KIND, record.key, record.revision)
    files = request.app[FILES]
    await _forget_data(store, files, record.key)
    await files.gc()
    return no_content()


async def _forget_data(store: Store, files: ImageFiles, image_id: str) -> None:
    """A deleted image's data and transfers."""
    await files.remove(image_id)
    for transfer in await list_all(store, catalog.TRANSFER_KIND, {"image_id": image_id}):
        with contextlib.suppress(NotFound):
            await store.delete(catalog.TRANSFER_KIND, transfer.key)


async def forget_project(app: web.Application, project_id: str) -> None:
    """A deleted project's private images go, data and all; its public ones (other projects'
    packages may use them) pass to the system scope."""
    store, files = app[HUB].store, app[FILES]
    for record in await list_all(store, KIND, {"project_id": project_id}):
        with contextlib.suppress(NotFound, StaleRevision):
            image = Image.of(record)
            if image.visibility == "public":
                system = replace(image, project=None, project_id=None)
                await store.put(KIND, record.key, system.to_wire(), expect_revision=record.revision)
                continue
            await store.delete(KIND, record.key, expect_revision=record.revision)
            await _forget_data(store, files, record.key)
    await files.gc()


async def _serve(request: web.Request) -> ImageRoutes:
    """Visible and active with data, or the 404/409 saying why; then the serving handlers."""
    record = await visible_image(request)
    await _manifest_of(hub_of(request).store, request.app[FILES], record.key)
    return request.app[SERVE].routes


async def download_file(request: web.Request) -> web.StreamResponse:
    return await (await _serve(request)).download(request)


async def show_manifest(request: web.Request) -> web.Response:
    return await (await _serve(request)).manifest(request)


async def show_chunk(request: web.Request) -> web.StreamResponse:
    return await (await _serve(request)).chunk(request)


async def scrub_images(request: web.Request) -> web.Response:
    """Hash every stored chunk now; quarantine corrupt ones and mark the images they hold."""
    result = await request.app[SCRUBBER].scrub(now_iso(request))
    return reply(result.to_json())


ROUTES = [
    Route(
        "GET",
        "/v1/images",
        "images.list",
        list_images,
        "List the images you may use",
        response=IMAGE,
        paged=True,
        query=IMAGE_FILTERS,
    ),
    Route(
        "POST",
        "/v1/images",
        "images.create",
        create_image,
        "Create an image record (queued); upload its data next",
        description="properties.kernel_id/ramdisk_id must name images you may use. A "
        "system-scoped token creates images with no project (public by default).",
        body=IMAGE_CREATE,
        response=IMAGE,
        status=201,
        etag=True,
    ),
    Route(
        "POST",
        "/v1/images/scrub",
        "images.scrub",
        scrub_images,
        "Scrub the hub's image store now (system admins)",
        description="Hashes every stored chunk (reads the whole store: minutes on a big "
        "one), moves corrupt chunks to quarantine and marks each active image that lost "
        "chunks in its status_reason; uploading the same content to that image repairs it. "
        "The hub also scrubs every [images] scrub_interval seconds.",
        response=SCRUB_REPORT,
    ),
    Route(
        "GET",
        "/v1/images/{image_id}",
        "images.show",
        show_image,
        "Show an image",
        response=IMAGE,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "DELETE",
        "/v1/images/{image_id}",
        "images.delete",
        delete_image,
        "Delete an image (409 while a VNF package or another image uses it)",
        status=204,
        path_params=PATH,
    ),
    Route(
        "GET",
        "/v1/images/{image_id}/file",
        "images.download",
        download_file,
        "Download an active image's data (streamed)",
        path_params=PATH,
        raw_response=BINARY,
    ),
    Route(
        "GET",
        "/v1/images/{image_id}/manifest",
        "images.manifest",
        show_manifest,
        "The image's chunk manifest (what a site pulls by)",
        response=MANIFEST,
        path_params=PATH,
    ),
    Route(
        "GET",
        "/v1/images/{image_id}/chunks/{sha256}",
        "images.chunk",
        show_chunk,
        "One chunk of an image, by its sha256 (HTTP Range works)",
        path_params={
            **PATH,
            "sha256": Field(
                "string", required=True, pattern=SHA256_PATTERN, pattern_help="a sha256"
            ),
        },
        raw_response=BINARY,
    ),
]
