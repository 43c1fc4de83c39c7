"""``POST /v1/auth/tokens``: exchange the local admin credential for a local token."""

from __future__ import annotations

from aiohttp import web

from atoll.errors import InvalidInput, Problem
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX


async def create(request: web.Request) -> web.Response:
    auth, source = request.app[CTX].auth, request.remote or "unknown"
    await auth.throttle.admit(source)  # an address that failed too often: before reading
    body = await json_object(request)
    name, secret = body.get("name", "admin"), body.get("secret")
    if not isinstance(name, str) or not isinstance(secret, str) or not secret:
        raise InvalidInput(
            "a token request needs the credential",
            [Problem("body.secret", "must be the local admin credential")],
        )
    issued = await auth.issue(name, secret, source)
    return web.json_response(issued, status=201)


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/auth/tokens", create)]
