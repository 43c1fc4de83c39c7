"""``POST /v1/auth/tokens``: exchange the local admin credential for a local token."""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.errors import InvalidInput, Problem
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX
from atoll.site_agent.api.objects import reply

REQUEST = Shape(
    "TokenRequest",
    {
        "name": Field("string", max_length=63, description="the credential's name (admin)"),
        "secret": Field("string", required=True, max_length=1024, description="its secret"),
    },
)
ISSUED = Shape(
    "Token",
    {
        "token": Field("string", required=True, description="send as Authorization: Bearer"),
        "expires_at": Field("number", required=True, description="Unix time"),
    },
)


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
    body = REQUEST.validate(body)
    issued = await auth.issue(name, secret, source)
    return reply(issued, status=201)


ROUTES = [
    Route("POST", "/v1/auth/tokens", "auth.tokens.issue", create,
          "Exchange the local admin credential for a token", body=REQUEST, response=ISSUED,
          status=201, public=True),
]  # fmt: skip
