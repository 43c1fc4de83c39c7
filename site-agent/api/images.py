"""``/v1/images``: the images present at this site; add one by upload or from the import dir.

- ``PUT /v1/images/{id}/file``: the image's bytes as the body (``application/octet-stream``,
  streamed, never held in memory) with the declared ``X-Image-Sha256`` header. A body cut
  short (the client hung up) or stalled for ``UPLOAD_IDLE_TIMEOUT`` seconds ends the upload
  as the hub's do (:func:`atoll.images.serve.request_blocks`), keeping nothing: a 4xx (a
  client that hung up is logged as 499, see :mod:`atoll.access_log`), never a 500.
- ``POST /v1/images`` ``{"id", "file", "sha256"}``: copy the file named ``file`` from the
  agent's ``image_import_dir``.

A host path is never taken from a caller (see :mod:`atoll.site_agent.catalog`).
"""

from __future__ import annotations

import re

from aiohttp import web

from atoll.api.paging import page_of, page_params
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.errors import InvalidInput, NotFound, Problem
from atoll.images.serve import UPLOAD_IDLE_TIMEOUT, request_blocks
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX
from atoll.site_agent.api.objects import reply

SHA256 = re.compile(r"[0-9a-f]{64}")
IMAGE = Shape(
    "Image",
    {
        "id": Field("string", required=True),
        "name": Field("string", required=True),
        "format": Field("string", required=True),
        "virtual_size": Field("integer", required=True),
        "size": Field("integer", required=True),
        "sha256": Field("string", required=True),
    },
)
IMPORT = Shape(
    "ImageImport",
    {
        "id": Field("string", required=True, min_length=1, max_length=255, description="its id"),
        "file": Field(
            "string", required=True, min_length=1, max_length=255,
            description="a file's name in the agent's image_import_dir (no path)",
        ),
        "sha256": Field("string", required=True, min_length=1, max_length=64,
                        description="the file's expected checksum"),
    },
)  # fmt: skip
ONE = Shape("ImageReply", {"image": Field("object", required=True, shape=IMAGE)})
REF = {"ref": Field("string", max_length=255, description="the image's id")}


async def list_(request: web.Request) -> web.Response:
    limit, marker = page_params(request)
    images = [i.view() for i in await request.app[CTX].images.list_images()]
    return reply(page_of(images, limit, marker, key=lambda item: str(item["id"])))


async def show(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    image = await request.app[CTX].images.find(ref)
    if image is None:
        raise NotFound(f"image {ref!r} is not present at this site")
    return reply({"image": image.view()})


async def create(request: web.Request) -> web.Response:
    """``{"id", "file", "sha256"}``: copy ``file`` from the import dir into the image cache."""
    body = await json_object(request)
    if "path" in body:
        raise InvalidInput(
            "the image is not valid",
            [
                Problem(
                    "body.path",
                    "host paths are not accepted: upload the image (PUT /v1/images/{id}/file) "
                    "or name a file in the agent's image_import_dir (body.file)",
                )
            ],
        )
    body = IMPORT.validate(body)
    catalog = request.app[CTX].images
    image = await catalog.import_file(body["id"], body["file"], body["sha256"].lower())
    return reply({"image": image.view()}, status=201)


async def upload(request: web.Request) -> web.Response:
    """The request body is the image; ``X-Image-Sha256`` is its declared checksum."""
    declared = request.headers.get("X-Image-Sha256", "").strip().lower()
    if not SHA256.fullmatch(declared):
        raise InvalidInput(
            "the image cannot be uploaded",
            [Problem("header.X-Image-Sha256", "required: the image's sha256, 64 hex digits")],
        )
    catalog = request.app[CTX].images
    chunks = request_blocks(request, UPLOAD_IDLE_TIMEOUT)
    image = await catalog.upload(request.match_info["ref"], chunks, declared)
    return reply({"image": image.view()}, status=201)


ROUTES = [
    Route("GET", "/v1/images", "images.list", list_, "List the images present at this site",
          response=IMAGE, paged=True),
    Route("POST", "/v1/images", "images.create", create,
          "Copy a file named in the agent's image_import_dir into the image cache",
          body=IMPORT, response=ONE, status=201),
    Route("GET", "/v1/images/{ref}", "images.show", show, "Show an image", response=ONE,
          path_params=REF),
    Route("PUT", "/v1/images/{ref}/file", "images.upload", upload,
          "Upload an image's bytes (streamed; header X-Image-Sha256: its sha256)",
          response=ONE, status=201, path_params=REF, raw_body=("application/octet-stream",)),
]  # fmt: skip
