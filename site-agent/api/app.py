"""``build_app(ctx)``: the local API application."""

from __future__ import annotations

from aiohttp import web

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


def build_app(ctx: ApiContext) -> web.Application:
    app = web.Application(
        middlewares=[middleware.errors, middleware.authenticate], client_max_size=512 * 1024
    )
    app[middleware.CTX] = ctx
    for module in (health, tokens, servers, networks, volumes, flavors, images, openapi):
        app.add_routes(module.routes())
    return app
