"""``build_app(ctx)``: the local API application, from one route table (:data:`ROUTES`)."""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.site_agent.api import (
    flavors,
    health,
    images,
    middleware,
    networks,
    openapi,
    servers,
    tokens,
    volumes,
)
from atoll.site_agent.api.context import ApiContext

RESOURCE_ROUTES: list[Route] = [
    *health.ROUTES,
    *tokens.ROUTES,
    *servers.ROUTES,
    *networks.ROUTES,
    *volumes.ROUTES,
    *flavors.ROUTES,
    *images.ROUTES,
]
ROUTES: list[Route] = [openapi.route(RESOURCE_ROUTES), *RESOURCE_ROUTES]


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[middleware.errors, middleware.authenticate], client_max_size=512 * 1024
    )
    app[middleware.CTX] = ctx
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
    return app
