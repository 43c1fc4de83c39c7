"""``POST /v1/auth/tokens``: exchange the local admin credential for a local token."""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX
from atoll.site_agent.api.objects import reply

REQUEST = Shape(
    "TokenRequest",
    {
        "name": Field("string", max_length=63, description="the credential's name (admin)"),
        "secret": Field(
            "string",
            required=True,
            min_length=1,
            max_length=1024,
            description="the local admin credential printed at first start",
        ),
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
    body = REQUEST.validate(await json_object(request))
    issued = await auth.issue(body.get("name", "admin"), body["secret"], source)
    return reply(issued, status=201)


ROUTES = [
    Route("POST", "/v1/auth/tokens", "auth.tokens.issue", create,
          "Exchange the local admin credential for a token", body=REQUEST, response=ISSUED,
          status=201, public=True),
]  # fmt: skip
