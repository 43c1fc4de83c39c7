"""``/v1/images``: the images present at this site; add one from a file on the host."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from atoll.errors import InvalidInput, NotFound, Problem
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX


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
    """``{"id", "path", "sha256"}``: take a file already on this host into the image cache."""
    body = await json_object(request)
    problems = [
        Problem(f"body.{key}", "must be a non-empty string")
        for key in ("id", "path", "sha256")
        if not isinstance(body.get(key), str) or not body[key]
    ]
    if problems:
        raise InvalidInput("the image is not valid", problems)
    path = Path(body["path"])
    if not path.is_absolute() or not await asyncio.to_thread(path.is_file):
        raise InvalidInput(
            "the image is not valid",
            [Problem("body.path", f"{path} is not a file on the agent host")],
        )
    image = await request.app[CTX].images.add_image(body["id"], path, body["sha256"])
    return web.json_response({"image": image.view()}, status=201)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/images", list_),
        web.post("/v1/images", create),
        web.get("/v1/images/{ref}", show),
    ]
