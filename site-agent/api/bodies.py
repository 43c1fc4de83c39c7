"""Reading request bodies: JSON objects only, size- and depth-limited (:mod:`atoll.jsonbody`),
with errors a client can act on."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atoll import jsonbody
from atoll.api import slow_clients
from atoll.errors import InvalidInput, PayloadTooLarge, Problem
from atoll.site_agent.api.middleware import CTX

MAX_BODY = 256 * 1024


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge(f"the request body is over {MAX_BODY} bytes")
    seconds = request.app[CTX].request_read_timeout
    raw = await slow_clients.within(seconds, _read(request))  # 408 if it does not all come
    if not raw.strip():
        if optional:
            return {}
        raise InvalidInput("the request needs a JSON object body", [Problem("body", "empty")])
    data = jsonbody.loads(bytes(raw), max_bytes=MAX_BODY)
    if not isinstance(data, dict):
        raise InvalidInput(
            "the request body must be a JSON object", [Problem("body", "not an object")]
        )
    return data


async def _read(request: web.Request) -> bytearray:
    """The body, or its first MAX_BODY + 1 bytes."""
    raw = bytearray()
    while len(raw) <= MAX_BODY:  # read() returns what has arrived, not the whole body
        chunk = await request.content.read(MAX_BODY + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    return raw
