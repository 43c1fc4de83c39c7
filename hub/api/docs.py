"""``/docs``: the hub's API documentation, rendered from ``/v1/openapi.json`` in the browser.

The renderer is Swagger UI, from the ``swagger-ui-bundle-v2`` wheel (which vendors its
files); the hub serves those files itself under ``/docs/``, so the page works on a network
with no way out and loads nothing from a CDN (its Content-Security-Policy says so: scripts,
styles and the document from the hub only). The page's own script is served too, not
inline: it points Swagger UI at the document, and "Authorize" takes a bearer token.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field
from atoll.errors import NotFound

ASSETS = Path(str(swagger_ui_bundle.swagger_ui_path))
SERVED = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Atoll hub API</title>
    <link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/favicon-16x16.png" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="/docs/atoll-docs.js" charset="UTF-8"></script>
  </body>
</html>
"""
SCRIPT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
};
"""
OWN = {"atoll-docs.js": (SCRIPT.encode(), "text/javascript")}


def _headers(content_type: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "Content-Security-Policy": POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=3600",
    }


async def show_docs(request: web.Request) -> web.Response:
    return web.Response(body=PAGE.encode(), headers=_headers("text/html; charset=utf-8"))


async def show_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["asset"]
    if name in OWN:
        body, content_type = OWN[name]
        return web.Response(body=body, headers=_headers(content_type))
    if name not in SERVED:
        raise NotFound(f"/docs/{name} is not one of the documentation's files")
    path = ASSETS / name
    return web.FileResponse(path, headers=_headers(TYPES[path.suffix]))


ASSET = Field("string", enum=(*SERVED, *OWN), description="a file of the documentation page")
ROUTES = [
    Route("GET", "/docs", "docs.show", show_docs,
          "This API's documentation (Swagger UI, served by the hub; nothing from a CDN)",
          raw_response=("text/html",), public=True),
    Route("GET", "/docs/{asset}", "docs.asset", show_asset,
          "A script, style sheet or icon of the documentation page",
          raw_response=("text/javascript", "text/css", "image/png"), path_params={"asset": ASSET},
          public=True),
]  # fmt: skip
