"""``/v1/networks`` and ``/v1/subnets``: create, list, show, delete."""

from __future__ import annotations

from aiohttp import web

from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX


def _crud(kind: str, plural: str) -> list[web.RouteDef]:
    async def list_(request: web.Request) -> web.Response:
        return web.json_response({plural: await request.app[CTX].resources.list_kind(kind)})

    async def create(request: web.Request) -> web.Response:
        body = await json_object(request)
        resources = request.app[CTX].resources
        made = await (
            resources.create_network(body) if kind == "network" else resources.create_subnet(body)
        )
        return web.json_response({kind: made}, status=201)

    async def show(request: web.Request) -> web.Response:
        found = await request.app[CTX].resources.show(kind, request.match_info["ref"])
        return web.json_response({kind: found})

    async def delete(request: web.Request) -> web.Response:
        await request.app[CTX].resources.delete(kind, request.match_info["ref"])
        return web.json_response({}, status=202)

    return [
        web.get(f"/v1/{plural}", list_),
        web.post(f"/v1/{plural}", create),
        web.get(f"/v1/{plural}/{{ref}}", show),
        web.delete(f"/v1/{plural}/{{ref}}", delete),
    ]


def routes() -> list[web.RouteDef]:
    return _crud("network", "networks") + _crud("subnet", "subnets")
