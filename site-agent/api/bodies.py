"""Reading request bodies: JSON objects only, size-limited, with errors a client can act on."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from atoll.errors import InvalidInput, PayloadTooLarge, Problem

MAX_BODY = 256 * 1024


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge(f"the request body is over {MAX_BODY} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"the request body is over {MAX_BODY} bytes")
    if not raw.strip():
        if optional:
            return {}
        raise InvalidInput("the request needs a JSON object body", [Problem("body", "empty")])
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput("the request body is not JSON", [Problem("body", str(exc))]) from exc
    if not isinstance(data, dict):
        raise InvalidInput(
            "the request body must be a JSON object", [Problem("body", "not an object")]
        )
    return data
