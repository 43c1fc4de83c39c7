"""``PUT /v1/images/{id}/file``: an image's data, streamed into the hub's image store.

Create a record first (``POST /v1/images``, :mod:`.images`, status ``queued``), then send
the bytes (``application/octet-stream``; optional ``X-Image-Sha256`` and ``Content-Length``
are checked). The body streams into the content-addressed chunk store (never whole in
memory), is validated with ``qemu-img info`` (declared format = real format; no qcow2
backing or external data file; size, chunk count and virtual size bounded) and only then is
the image ``active``. The upload hashes every byte twice (the image's sha256, each chunk's);
the image's sha-512 is computed from the stored chunks right after, in the background
(``checksum_sha512`` is null in the upload's answer and set moments later:
:mod:`atoll.hub.catalog.image_sha512`). A refused or cut upload leaves the record ``killed``
with its ``status_reason`` and no data (no manifest: nothing can download or pull it); ``atoll image
upload`` deletes such a record itself. An upload that sends nothing for the hub's
``upload_idle_timeout`` is aborted and killed the same way, and a hub that restarts during an
upload kills it too (:func:`kill_interrupted`, at start).

A project's images hold at most ``[hub] image_bytes_limit`` bytes, and at most ``[hub]
image_uploads_per_project`` of its uploads are in progress at once (:data:`QUOTA`, a
:class:`~atoll.hub.identity.limits.ProjectBytes`): an upload whose ``Content-Length`` would
take the project over, or one too many at once, is refused before it is read and the image
stays as it was (403 ``over_limit``, 429); one that passes the room left while it streams is
cut there and killed like any refused upload.

An active image marked damaged (:mod:`atoll.hub.catalog.image_integrity`) takes its own
content again, which repairs it; anything else is refused and the image stays as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import replace

from aiohttp import web

from atoll.api.routing import Route
from atoll.errors import Conflict, InvalidInput, Problem, StaleRevision
from atoll.hub.api import records
from atoll.hub.api.context import Hub, hub_of, now_iso
from atoll.hub.api.image_shapes import IMAGE, SHA256_PATTERN
from atoll.hub.api.images import BINARY, FILES, KIND, PATH, SHA512, writable_image
from atoll.hub.api.replies import reply
from atoll.hub.catalog.image_integrity import refresh_damage
from atoll.hub.catalog.images import Image
from atoll.hub.identity.limits import BytesLimit, ProjectBytes, Upload
from atoll.hub.store.base import Record, Store
from atoll.hub.store.query import list_all
from atoll.images.errors import ChecksumMismatch
from atoll.images.serve import request_blocks
from atoll.printable import escape
from atoll.timestamps import iso

log = logging.getLogger(__name__)

QUOTA = web.AppKey("image_bytes", ProjectBytes)


def install(app: web.Application, hub: Hub) -> None:
    """Give the app its per-project upload tally, and kill the uploads a restart cut."""
    limit = BytesLimit(
        "image data",
        hub.settings.image_bytes_limit,
        "image_bytes_limit",
        hub.settings.image_uploads_per_project,
        "image_uploads_per_project",
    )
    app[QUOTA] = ProjectBytes(functools.partial(held_bytes, hub.store), limit)

    async def recover(app: web.Application) -> None:
        await kill_interrupted(hub.store, iso(hub.clock()))

    app.on_startup.append(recover)


async def held_bytes(store: Store, project_id: str) -> int:
    """Bytes of image data the project's images hold in the hub's image store (what
    ``[hub] image_bytes_limit`` bounds): images registered from a VNF package's own file
    have their data in the package, counted as the package's."""
    images = map(Image.of, await list_all(store, KIND, {"project_id": project_id}))
    return sum(i.size or 0 for i in images if i.status == "active" and i.source == "upload")


async def kill_interrupted(store: Store, now: str) -> None:
    """Uploads the hub was receiving when it stopped can never finish: mark them killed."""
    for record in await list_all(store, KIND, {"status": "saving"}):
        reason = "the hub restarted during the upload; upload again"
        value = replace(Image.of(record), status="killed", status_reason=reason, updated_at=now)
        with contextlib.suppress(StaleRevision):
            await store.put(KIND, record.key, value.to_wire(), expect_revision=record.revision)


def _declared_sha256(request: web.Request) -> str | None:
    declared = request.headers.get("X-Image-Sha256")
    if declared is None:
        return None
    if not re.fullmatch(SHA256_PATTERN, declared.strip().lower()):
        raise InvalidInput(
            "the declared checksum is not valid",
            [Problem("header.X-Image-Sha256", "must be 64 hex digits")],
        )
    return declared.strip().lower()


def _upload_stream(request: web.Request) -> AsyncIterator[bytes]:
    return request_blocks(request, hub_of(request).settings.upload_idle_timeout)


async def upload_file(request: web.Request) -> web.Response:
    record, image = await writable_image(request)
    if image.status == "active" and image.damaged:
        # an upload in progress like any other; its bytes are the image's own, counted already
        async with request.app[QUOTA].upload(image.project_id, None):
            return await _repair(request, image)
    if image.status not in ("queued", "killed"):
        raise Conflict(
            f"image {record.key} is {image.status}: its data cannot change; create a new image"
        )
    declared = _declared_sha256(request)
    # the project's room, and its uploads in progress, before the image changes at all
    async with request.app[QUOTA].upload(image.project_id, request.content_length) as upload:
        active, saved = await _receive(request, record, image, declared, upload)
        upload.kept()
    return reply(active.view(), revision=saved.revision)


async def _receive(
    request: web.Request, record: Record, image: Image, declared: str | None, upload: Upload
) -> tuple[Image, Record]:
    """Mark the image saving, take its data (counted against its project's room) and make
    it active; or leave it killed with the reason the upload was refused."""
    store, files = hub_of(request).store, request.app[FILES]
    image = replace(image, status="saving", status_reason="", updated_at=now_iso(request))
    try:
        record = await store.put(KIND, record.key, image.to_wire(), expect_revision=record.revision)
    except StaleRevision as exc:
        raise Conflict(f"image {record.key} is being uploaded by another request") from exc
    try:
        result = await files.ingest(
            upload.count(_upload_stream(request)),
            disk_format=image.disk_format,
            expected_sha256=declared,
            expected_size=request.content_length,
        )
        await files.save(record.key, result.manifest)
    except BaseException as exc:
        killed = replace(
            image, status="killed", status_reason=_reason(exc), updated_at=now_iso(request)
        )
        await asyncio.shield(_put_quietly(store, record, killed))
        raise
    active = replace(
        image,
        status="active",
        checksum_sha256=result.manifest.sha256,
        checksum_sha512=None,  # computed from the stored chunks next, off the upload's path
        size=result.manifest.size,
        virtual_size=result.info.virtual_size,
        updated_at=now_iso(request),
    )
    saved = await store.put(KIND, record.key, active.to_wire(), expect_revision=record.revision)
    request.app[SHA512].start(record.key)
    log.info(
        "image %s uploaded: %d bytes, %d chunks",
        record.key,
        result.manifest.size,
        len(result.manifest.chunks),
    )
    return active, saved


async def _repair(request: web.Request, image: Image) -> web.Response:
    """The same content again for a damaged image: its chunks are rewritten, the mark goes.

    Anything else (other content, a cut or stalled body) is refused and changes nothing:
    the image stays active and damaged, never killed by a failed repair.
    """
    checksum = image.checksum_sha256 or ""
    declared = _declared_sha256(request)
    if declared is not None and declared != checksum:
        raise ChecksumMismatch(
            f"image {image.id} is damaged; only its own content ({checksum}) repairs it",
            [Problem("header.X-Image-Sha256", f"{declared} is not the image's checksum")],
        )
    store, files = hub_of(request).store, request.app[FILES]
    result = await files.ingest(
        _upload_stream(request),
        disk_format=image.disk_format,
        expected_sha256=checksum,
        expected_size=request.content_length,
    )
    await files.save(image.id, result.manifest)
    await refresh_damage(store, files, image.id, result.manifest, now_iso(request))
    request.app[SHA512].start(image.id)  # if it has none yet (its chunks could not be read)
    log.info("image %s repaired by a re-upload of its content", image.id)
    return reply(Image.of(await records.fetch(store, KIND, image.id)).view())


def _reason(exc: BaseException) -> str:
    """Why an upload was refused, with the problems named (for ``status_reason``), one line
    of at most 1,000 characters without control characters: the image record refuses them
    (a record no read could load would break every list of images), and the reason may quote
    what the upload holds (a file name in a qcow2 header)."""
    if isinstance(exc, InvalidInput):
        details = "; ".join(f"{p.where}: {p.what}" for p in exc.problems)
        reason = f"{exc.summary}: {details}" if details else exc.summary
    elif isinstance(exc, asyncio.CancelledError):
        reason = "the upload was interrupted"
    else:
        reason = str(exc) or type(exc).__name__
    return escape(reason)[:1000]


async def _put_quietly(store: Store, record: Record, image: Image) -> None:
    try:
        await store.put(KIND, record.key, image.to_wire(), expect_revision=record.revision)
    except Exception:  # the record changed or went away: nothing left to mark
        log.warning("could not mark image %s killed", record.key, exc_info=True)


ROUTES = [
    Route(
        "PUT",
        "/v1/images/{image_id}/file",
        "images.upload",
        upload_file,
        "Upload the image's data (streamed, checked, validated); the image becomes active",
        description="Header X-Image-Sha256 (optional) is checked against the content; "
        "Content-Length, when sent, must be the real length. The image answered is active "
        "with checksum_sha256 set; its checksum_sha512 is null and is set moments later (the "
        "hub computes it from the stored data in the background). Only queued or killed "
        "images take data (else 409). A refusal (400 bad format, checksum or truncated body; 408 "
        "no data for upload_idle_timeout; 413 over a size limit) leaves the image killed "
        "with status_reason and no data. An active image marked damaged (status_reason) "
        "takes its own content again, which repairs it; anything else is refused and the "
        "image stays as it was. A project's images hold at most [hub] image_bytes_limit "
        "bytes: an upload whose Content-Length would pass it is refused with 403 over_limit "
        "(the image unchanged), one that passes it while it streams is cut there (403, "
        "killed); more than [hub] image_uploads_per_project uploads of a project at once "
        "is a 429 with Retry-After (the image unchanged).",
        response=IMAGE,
        path_params=PATH,
        raw_body=BINARY,
    ),
]
