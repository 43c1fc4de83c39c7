"""``GET /openapi.json``: the local API described (OpenAPI 3.1), kept true by a test that
compares it with the routes the application really has."""

from __future__ import annotations

from typing import Any

from aiohttp import web

ERROR = {"$ref": "#/components/schemas/Error"}
_OPS: list[tuple[str, str, str]] = [
    ("get", "/health", "agent health (no token)"),
    ("get", "/metrics", "Prometheus metrics (no token unless metrics_auth)"),
    ("post", "/v1/auth/tokens", "exchange the local admin credential for a token"),
    ("get", "/v1/servers", "list servers"),
    ("post", "/v1/servers", "create a server (202; built by the reconciler)"),
    ("get", "/v1/servers/{ref}", "show a server by id or name"),
    ("delete", "/v1/servers/{ref}", "delete a server (202)"),
    ("post", "/v1/servers/{ref}/actions/{action}", "start, stop, reboot or rebuild"),
    ("get", "/v1/servers/{ref}/console", "the serial console log (?tail=bytes)"),
    ("get", "/v1/networks", "list networks"),
    ("post", "/v1/networks", "create a network (flat or vlan)"),
    ("get", "/v1/networks/{ref}", "show a network"),
    ("delete", "/v1/networks/{ref}", "delete a network (and its subnets)"),
    ("get", "/v1/subnets", "list subnets"),
    ("post", "/v1/subnets", "create a subnet"),
    ("get", "/v1/subnets/{ref}", "show a subnet"),
    ("delete", "/v1/subnets/{ref}", "delete a subnet"),
    ("get", "/v1/volumes", "list volumes"),
    ("post", "/v1/volumes", "create a volume (202)"),
    ("get", "/v1/volumes/{ref}", "show a volume"),
    ("delete", "/v1/volumes/{ref}", "delete a volume (202)"),
    ("post", "/v1/volumes/{ref}/actions/{action}", "attach, detach, extend or snapshot"),
    ("get", "/v1/flavors", "list flavors"),
    ("post", "/v1/flavors", "create a flavor"),
    ("get", "/v1/flavors/{ref}", "show a flavor"),
    ("get", "/v1/images", "list images present at the site"),
    ("post", "/v1/images", "copy a file named in the agent's image_import_dir into the cache"),
    ("get", "/v1/images/{ref}", "show an image"),
    ("put", "/v1/images/{ref}/file", "upload an image's bytes (header X-Image-Sha256)"),
    ("get", "/openapi.json", "this document"),
]


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary in _OPS:
        op: dict[str, Any] = {
            "summary": summary,
            "responses": {
                "default": {
                    "description": "error",
                    "content": {"application/json": {"schema": ERROR}},
                }
            },
        }
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if path not in ("/health", "/metrics", "/v1/auth/tokens", "/openapi.json"):
            op["security"] = [{"bearer": []}]
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Atoll site agent local API", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "request_id"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "request_id": {"type": "string"},
                                "problems": {"type": "array", "items": {"type": "object"}},
                            },
                        }
                    },
                }
            },
        },
    }


async def show(request: web.Request) -> web.Response:
    return web.json_response(document())


def routes() -> list[web.RouteDef]:
    return [web.get("/openapi.json", show)]
