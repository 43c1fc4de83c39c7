"""``/v1/images``: the images present at this site (read-only here)."""

from __future__ import annotations

from aiohttp import web

from atoll.errors import NotFound
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


def routes() -> list[web.RouteDef]:
    return [web.get("/v1/images", list_), web.get("/v1/images/{ref}", show)]
