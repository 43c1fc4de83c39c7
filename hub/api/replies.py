"""Reading requests and writing replies the same way in every resource module.

- bodies: JSON objects only, checked against a :class:`~.schema.Shape`;
- path names and ids: checked against the same pattern the OpenAPI document states;
- ``ETag: "<revision>"`` on single objects, ``If-Match`` on updates and deletes;
- pages: ``?limit=`` (1-1000, default 100) and ``?marker=`` (the last name of the previous page).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from atoll import ids, jsonbody, jsonencode, timestamps
from atoll.api import slow_clients
from atoll.api.paging import DEFAULT_LIMIT as DEFAULT_LIMIT  # paging is the shared core's
from atoll.api.paging import LIMIT as LIMIT
from atoll.api.paging import MARKER as MARKER
from atoll.api.paging import MAX_LIMIT as MAX_LIMIT
from atoll.api.paging import page_body
from atoll.api.paging import page_params as page_params
from atoll.api.schema import NAME_HELP, NAME_PATTERN, Field, OneOf, Shape, check
from atoll.errors import InvalidId, InvalidInput, Problem
from atoll.hub.api.context import hub_of
from atoll.hub.store.base import Record
from atoll.jsonbody import JSON


def reply(data: object, status: int = 200, revision: int | None = None) -> web.Response:
    headers = {"ETag": f'"{revision}"'} if revision is not None else None
    return web.Response(
        body=jsonencode.dumps(data),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def no_content() -> web.Response:
    return web.Response(status=204)


async def read_body(request: web.Request, shape: Shape | OneOf) -> JSON:
    """The request's JSON body checked against ``shape`` (400/413/415 otherwise)."""
    return shape.validate(await read_json(request))


async def read_json(request: web.Request) -> object:
    """The request's JSON body, unchecked (for a typed model to decode; 400/413 otherwise)."""
    if request.content_type != "application/json":
        raise InvalidInput(
            f"the request body must be JSON (Content-Type: application/json), "
            f"not {request.content_type or 'nothing'}"
        )
    raw = await read_raw(request)  # 413 over the size limit, 408 too slow
    return jsonbody.loads(raw, max_bytes=hub_of(request).settings.max_body_bytes)


async def read_raw(request: web.Request) -> bytes:
    """A JSON request's whole body, as it came: 413 over the size limit (aiohttp enforces
    it), 408 if it has not all arrived within ``[hub] request_read_timeout`` (a client
    that declared more than it sends would hold its connection, and the hub's file, as
    long as it liked)."""
    return await slow_clients.within(hub_of(request).settings.request_read_timeout, request.read())


def path_name(request: web.Request, param: str = "name") -> str:
    value = request.match_info[param]
    if not re.fullmatch(NAME_PATTERN, value):
        raise InvalidInput(
            "the path is not valid", [Problem(f"path.{param}", f"must be {NAME_HELP}")]
        )
    return value


def path_id(request: web.Request, param: str = "id") -> str:
    """An id from the path (see :mod:`atoll.ids`), in the form the store keys it by."""
    value = request.match_info[param]
    if not ids.is_id(value):
        raise InvalidId(f"path.{param}", value)
    return value


def if_match(request: web.Request) -> int | None:
    """The revision an ``If-Match: "R"`` header asks for (None when absent or ``*``)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = re.fullmatch(r'\s*(?:W/)?"?(\d{1,18})"?\s*', header)
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(
            "the If-Match header is not valid",
            [Problem("header.If-Match", 'must be an ETag from a previous reply, like "42"')],
        )
    return int(match.group(1))


def query_filters(request: web.Request, fields: dict[str, Field]) -> JSON:
    """Equality filters from the query string (``?region=north``), checked like a body."""
    filters: JSON = {}
    problems: list[Problem] = []
    for name, spec in fields.items():
        value = request.query.get(name)
        if value is None:
            continue
        before = len(problems)
        check(spec, value, f"query.{name}", problems)
        if len(problems) == before:
            filters[name] = value
    if problems:
        raise InvalidInput("the query is not valid", problems)
    return filters


def page_reply(items: list[JSON], next_marker: str | None) -> web.Response:
    return reply(page_body(items, next_marker))


def parse_body_time(text: str, where: str) -> float:
    try:
        return timestamps.parse_iso(text)
    except ValueError as exc:
        raise InvalidInput(
            "a time is not valid", [Problem(where, "must be a real UTC time")]
        ) from exc


def public_view(record: Record, *, hide: tuple[str, ...] = ()) -> dict[str, Any]:
    """The stored value as the API shows it: internal and secret fields dropped."""
    return {k: v for k, v in record.value.items() if k not in hide and not k.startswith("_")}
