"""The OpenAPI 3.1 document of an API, generated from the same routes and shapes it runs on
(the hub's and the site agent's alike: :func:`document` takes the routes, a title and the
token schemes the API accepts)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from atoll import __version__
from atoll.api.paging import LIMIT, MARKER
from atoll.api.routing import Route
from atoll.jsonbody import JSON

ERROR_SCHEMA: JSON = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "description": "stable, for programs"},
                "message": {"type": "string", "description": "for people: what to do"},
                "request_id": {"type": "string"},
                "problems": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["where", "what"],
                        "additionalProperties": False,
                        "properties": {"where": {"type": "string"}, "what": {"type": "string"}},
                    },
                },
            },
        }
    },
}

_REQUEST_ID = {"X-Request-Id": {"schema": {"type": "string"}, "description": "for support"}}
_ETAG = {"ETag": {"schema": {"type": "string"}, "description": "the object's revision"}}


def _parameters(route: Route) -> list[JSON]:
    params: list[JSON] = [
        {"name": name, "in": "path", "required": True, "schema": spec.schema()}
        for name, spec in route.path_params.items()
    ]
    if route.paged:
        params.append({"name": "limit", "in": "query", "schema": LIMIT.schema()})
        params.append({"name": "marker", "in": "query", "schema": MARKER.schema()})
    for name, spec in route.query.items():
        param: JSON = {"name": name, "in": "query", "schema": spec.schema()}
        if spec.required:
            param["required"] = True
        params.append(param)
    if route.etag and route.method in ("PATCH", "PUT", "DELETE"):
        params.append(
            {
                "name": "If-Match",
                "in": "header",
                "description": "the ETag read earlier; a stale one answers 409",
                "schema": {"type": "string", "pattern": r'^(\*|(W/)?"?[1-9][0-9]{0,17}"?)$'},
            }
        )
    return params


def _success(route: Route) -> JSON:
    headers = dict(_REQUEST_ID)
    if route.etag and route.method != "DELETE":
        headers.update(_ETAG)
    if route.raw_response:
        raw = {"type": "string", "contentEncoding": "binary"}
        content = {media: {"schema": raw} for media in route.raw_response}
        return {"description": route.summary, "headers": headers, "content": content}
    if route.response is None:
        return {"description": "done", "headers": headers}
    schema = route.response.schema()
    if route.paged:
        schema = {
            "type": "object",
            "required": ["items", "next_marker"],
            "additionalProperties": False,
            "properties": {
                "items": {"type": "array", "items": schema},
                "next_marker": {"type": ["string", "null"], "description": "pass as ?marker="},
            },
        }
    return {
        "description": route.summary,
        "headers": headers,
        "content": {"application/json": {"schema": schema}},
    }


def doc_path(path: str) -> str:
    """A route's path as the document names it: ``{name:regex}`` (a parameter spanning
    several segments, like an artifact's path) is ``{name}``."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


BEARER: JSON = {"type": "http", "scheme": "bearer"}
AUTH_TOKEN: JSON = {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}


def operation(route: Route, schemes: Iterable[str] = ("bearer", "authToken")) -> JSON:
    op: JSON = {
        "operationId": route.name,
        "summary": route.summary,
        **({"description": route.description} if route.description else {}),
        "tags": [route.name.split(".")[0]],
        "security": [] if route.public else [{name: []} for name in schemes],
        "responses": {
            str(route.status): _success(route),
            "4XX": {
                "description": "the request was refused; the body says why",
                "headers": _REQUEST_ID,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if route.unavailable:
        op["responses"]["503"] = {**_success(route), "description": "not ready; the body says why"}
    for status, when in route.errors.items():
        op["responses"][str(status)] = {**op["responses"]["4XX"], "description": when}
    params = _parameters(route)
    if params:
        op["parameters"] = params
    if route.raw_body:
        raw = {"type": "string", "format": "binary"}
        op["requestBody"] = {
            "required": True,
            "content": {media: {"schema": raw} for media in route.raw_body},
        }
    if route.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": route.body.schema()}},
        }
    return op


def document(
    routes: Iterable[Route],
    *,
    title: str,
    description: str,
    schemes: Mapping[str, JSON] | None = None,
) -> JSON:
    """The document of ``routes``; ``schemes`` names the token schemes (default: the hub's,
    ``Authorization: Bearer`` and ``X-Auth-Token``)."""
    schemes = {"bearer": BEARER, "authToken": AUTH_TOKEN} if schemes is None else schemes
    paths: JSON = {}
    for route in routes:
        paths.setdefault(doc_path(route.path), {})[route.method.lower()] = operation(route, schemes)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__, "description": description},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": dict(schemes),
        },
    }
