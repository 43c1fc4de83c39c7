"""``/v1/servers``: create, list, show, delete; actions start/stop/reboot/rebuild; console."""

from __future__ import annotations

from aiohttp import web

from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX

ACTIONS = ("start", "stop", "reboot", "rebuild")


async def list_(request: web.Request) -> web.Response:
    return web.json_response({"servers": await request.app[CTX].resources.list_kind("server")})


async def create(request: web.Request) -> web.Response:
    body = await json_object(request)
    server = await request.app[CTX].resources.create_server(body)
    return web.json_response({"server": server}, status=202)


async def show(request: web.Request) -> web.Response:
    server = await request.app[CTX].resources.show("server", request.match_info["ref"])
    return web.json_response({"server": server})


async def delete(request: web.Request) -> web.Response:
    await request.app[CTX].resources.delete("server", request.match_info["ref"])
    return web.json_response({}, status=202)


async def action(request: web.Request) -> web.Response:
    body = await json_object(request, optional=True)
    ctx = request.app[CTX]
    server = await ctx.resources.server_action(
        request.match_info["ref"], request.match_info["action"], body
    )
    return web.json_response({"server": server}, status=202)


async def console(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    server = await ctx.resources.show("server", request.match_info["ref"])
    try:
        tail = max(1, min(int(request.query.get("tail", "65536")), 1 << 20))
    except ValueError:
        tail = 65536
    text = await ctx.console(server["id"], tail)
    return web.json_response({"console": {"server": server["id"], "output": text}})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/servers", list_),
        web.post("/v1/servers", create),
        web.get("/v1/servers/{ref}", show),
        web.delete("/v1/servers/{ref}", delete),
        web.post("/v1/servers/{ref}/actions/{action}", action),
        web.get("/v1/servers/{ref}/console", console),
    ]
