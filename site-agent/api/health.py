"""Probes and ``/metrics``. The probes need no token (load balancers, supervisors and field
engineers call them):

- ``/healthz``: the process answers (liveness; as on the hub, with no version);
- ``/readyz``: it can work: its store and the hypervisor answer (503 otherwise);
- ``/health``: the agent's own report (reconciler, sync; 503 when degraded).

``/metrics`` is unauthenticated by default (setting ``metrics_auth``): Prometheus scrapers
on a site's management network normally scrape without credentials, and the page holds only
counters and ids, never spec, secrets or console output.
"""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field
from atoll.errors import NotFound
from atoll.site_agent.api.middleware import CTX

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def health(request: web.Request) -> web.Response:
    report = await request.app[CTX].health()
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
          "The agent's health (503 when degraded; no token)", response=Field("object"),
          public=True),
    Route("GET", "/metrics", "metrics.show", metrics,
          "Prometheus metrics (no token unless the agent's metrics_auth is set)",
          raw_response=("text/plain",), public=True),
]  # fmt: skip
