"""``GET /openapi.json``: the local API described (OpenAPI 3.1), generated from the same
routes and shapes the API runs on (:mod:`atoll.api.openapi`, as the hub's)."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from atoll.api.openapi import document as api_document
from atoll.api.routing import Route
from atoll.api.schema import Field
from atoll.jsonbody import JSON
from atoll.site_agent.api.objects import reply

TITLE = "Atoll site agent local API"
DESCRIPTION = (
    "One site's servers, networks, volumes, flavors and images, run by its operators "
    "(system-scoped tokens: the agent's own local ones, or the hub's once the site joined). "
    "Errors share the hub's one shape; every response carries X-Request-Id."
)


def document(routes: Iterable[Route]) -> JSON:
    return api_document(routes, title=TITLE, description=DESCRIPTION)


def route(routes: list[Route]) -> Route:
    """``GET /openapi.json`` describing ``routes`` and itself."""

    async def show(request: web.Request) -> web.Response:
        return reply(document([own, *routes]))

    own = Route("GET", "/openapi.json", "openapi.show", show, "This document",
                response=Field("object"), public=True)  # fmt: skip
    return own
