"""``/v1/volumes``: create, list, show, delete; actions attach/detach/extend/snapshot."""

from __future__ import annotations

from aiohttp import web

from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX


async def list_(request: web.Request) -> web.Response:
    return web.json_response({"volumes": await request.app[CTX].resources.list_kind("volume")})


async def create(request: web.Request) -> web.Response:
    volume = await request.app[CTX].resources.create_volume(await json_object(request))
    return web.json_response({"volume": volume}, status=202)


async def show(request: web.Request) -> web.Response:
    volume = await request.app[CTX].resources.show("volume", request.match_info["ref"])
    return web.json_response({"volume": volume})


async def delete(request: web.Request) -> web.Response:
    await request.app[CTX].resources.delete("volume", request.match_info["ref"])
    return web.json_response({}, status=202)


async def action(request: web.Request) -> web.Response:
    body = await json_object(request, optional=True)
    volume = await request.app[CTX].resources.volume_action(
        request.match_info["ref"], request.match_info["action"], body
    )
    return web.json_response({"volume": volume}, status=202)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/volumes", list_),
        web.post("/v1/volumes", create),
        web.get("/v1/volumes/{ref}", show),
        web.delete("/v1/volumes/{ref}", delete),
        web.post("/v1/volumes/{ref}/actions/{action}", action),
    ]
