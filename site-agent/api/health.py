"""Probes and ``/metrics``. The probes need no token (load balancers, supervisors and field
engineers call them):

- ``/healthz``: the process answers (liveness; as on the hub, with no version);
- ``/readyz``: it can work: its store and the hypervisor answer (503 otherwise);
- ``/health``: the agent's own report (reconciler, sync; 503 when degraded). Without a
  token it says only what a balancer or a supervisor acts on: the status, the site, the
  counts and the sync figures. What failed (the reconciler's last error: a driver's or the
  store's own words, with host paths, device and tenant object names) and the agent's
  version are for a token that may read the site (:data:`PRIVATE`); a token that is not
  valid is refused as on any read route.

``/metrics`` is unauthenticated by default (setting ``metrics_auth``): Prometheus scrapers
on a site's management network normally scrape without credentials, and the page holds only
counters and ids, never spec, secrets or console output.
"""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field
from atoll.errors import NotFound
from atoll.site_agent.api.middleware import CTX, bearer_token
from atoll.site_agent.auth import authorize

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


PRIVATE = ("last_error", "version")  # what /health says only to a token that may read


async def health(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    report = await ctx.health()
    token = bearer_token(request)
    if token is None:
        report = {k: v for k, v in report.items() if k not in PRIVATE}
    else:
        authorize(ctx.auth.verify(token), write=False)
    return web.json_response(report, status=200 if report.get("status") == "ok" else 503)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})  # no version: anyone may call it


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[CTX].ready
    report = {"status": "ok"} if ready is None else await ready()
    return web.json_response(report, status=200 if report.get("status") == "ok" else 503)


async def metrics(request: web.Request) -> web.Response:
    render = request.app[CTX].metrics
    if render is None:
        raise NotFound("telemetry is not enabled on this agent")
    resp = web.Response(body=await render())
    resp.headers["Content-Type"] = PROMETHEUS_TEXT
    return resp


ROUTES = [
    Route("GET", "/healthz", "health.live", healthz, "The process answers (no token)",
          response=Field("object"), public=True),
    Route("GET", "/readyz", "health.ready", readyz,
          "The store and the hypervisor answer (503 if not; no token)", response=Field("object"),
          public=True),
    Route("GET", "/health", "health.show", health,
          "The agent's health (503 when degraded; no token: without its last error and "
          "version)", response=Field("object"),
          public=True),
    Route("GET", "/metrics", "metrics.show", metrics,
          "Prometheus metrics (no token unless the agent's metrics_auth is set)",
          raw_response=("text/plain",), public=True),
]  # fmt: skip
