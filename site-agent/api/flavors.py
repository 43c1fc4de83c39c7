"""``/v1/flavors``: list, show, create (vcpus and RAM a server is given)."""

from __future__ import annotations

from aiohttp import web

from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX


async def list_(request: web.Request) -> web.Response:
    return web.json_response({"flavors": await request.app[CTX].resources.list_kind("flavor")})


async def create(request: web.Request) -> web.Response:
    flavor = await request.app[CTX].resources.create_flavor(await json_object(request))
    return web.json_response({"flavor": flavor}, status=201)


async def show(request: web.Request) -> web.Response:
    flavor = await request.app[CTX].resources.show("flavor", request.match_info["ref"])
    return web.json_response({"flavor": flavor})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/flavors", list_),
        web.post("/v1/flavors", create),
        web.get("/v1/flavors/{ref}", show),
    ]
