"""``GET /v1/sync``: the websocket every joined site keeps open (:mod:`atoll.hub.sync`)."""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.hub.sync.server import SERVER


async def connect(request: web.Request) -> web.StreamResponse:
    return await request.app[SERVER].handle(request)


ROUTES = [
    Route(
        "GET",
        "/v1/sync",
        "sync.connect",
        connect,
        "A site's sync session (websocket; needs the site's certificate)",
        description="Upgrades to a websocket carrying binary msgpack frames (sync/PROTOCOL.md "
        "in the source): the site sends hello, the hub answers welcome, then intent goes down "
        "and facts come up. The TLS client certificate the hub CA issued to the site is the "
        "credential (no bearer token); without one the answer is 401 before any upgrade.",
        status=101,
        public=True,
    ),
]
