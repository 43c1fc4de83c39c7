"""``/v1/images``: the images present at this site; add one by upload or from the import dir.

- ``PUT /v1/images/{id}/file``: the image's bytes as the body (``application/octet-stream``,
  streamed, never held in memory) with the declared ``X-Image-Sha256`` header.
- ``POST /v1/images`` ``{"id", "file", "sha256"}``: copy the file named ``file`` from the
  agent's ``image_import_dir``.

A host path is never taken from a caller (see :mod:`atoll.site_agent.catalog`).
"""

from __future__ import annotations

import re

from aiohttp import web

from atoll.errors import InvalidInput, NotFound, Problem
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX

SHA256 = re.compile(r"[0-9a-f]{64}")
BLOCK = 1 << 20
FIELDS = ("id", "file", "sha256")


async def list_(request: web.Request) -> web.Response:
    images = await request.app[CTX].images.list_images()
    return web.json_response({"images": [i.view() for i in images]})


async def show(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    image = await request.app[CTX].images.find(ref)
    if image is None:
        raise NotFound(f"image {ref!r} is not present at this site")
    return web.json_response({"image": image.view()})


async def create(request: web.Request) -> web.Response:
    """``{"id", "file", "sha256"}``: copy ``file`` from the import dir into the image cache."""
    body = await json_object(request)
    problems = [
        Problem(f"body.{key}", "must be a non-empty string")
        for key in FIELDS
        if not isinstance(body.get(key), str) or not body[key]
    ]
    if "path" in body:
        problems.append(
            Problem(
                "body.path",
                "host paths are not accepted: upload the image (PUT /v1/images/{id}/file) "
                "or name a file in the agent's image_import_dir (body.file)",
            )
        )
    problems += [Problem(f"body.{key}", "unknown field") for key in body if key not in FIELDS]
    if problems:
        raise InvalidInput("the image is not valid", problems)
    catalog = request.app[CTX].images
    image = await catalog.import_file(body["id"], body["file"], body["sha256"].lower())
    return web.json_response({"image": image.view()}, status=201)


async def upload(request: web.Request) -> web.Response:
    """The request body is the image; ``X-Image-Sha256`` is its declared checksum."""
    declared = request.headers.get("X-Image-Sha256", "").strip().lower()
    if not SHA256.fullmatch(declared):
        raise InvalidInput(
            "the image cannot be uploaded",
            [Problem("header.X-Image-Sha256", "required: the image's sha256, 64 hex digits")],
        )
    catalog = request.app[CTX].images
    chunks = request.content.iter_chunked(BLOCK)
    image = await catalog.upload(request.match_info["ref"], chunks, declared)
    return web.json_response({"image": image.view()}, status=201)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/images", list_),
        web.post("/v1/images", create),
        web.get("/v1/images/{ref}", show),
        web.put("/v1/images/{ref}/file", upload),
    ]
