"""``GET /v1/metrics/query``: fleet telemetry for the dashboard's charts.

``?name=`` a metric the sites report (``atoll.site_agent.telemetry`` names without the
``atoll_`` prefix: ``host_memory_available_bytes``, ``server_cpu_utilization_ratio``...),
``site=`` (a site's name; every site when left out), ``server=`` (only that server's
series), ``since=``/``until=`` (epoch seconds; the last hour by default; an empty range has
no points), ``step=`` (seconds per point, rounded up to a multiple of 60 and raised so a
series has at most 1440 points; by default the smallest that gives at most 360). Answers
``{"name", "site", "since", "until", "step", "fields": ["ts", "avg", "min", "max"],
"series": [{"site", "labels", "points": [[ts, avg, min, max], ...]}]}``, points oldest
first, from :class:`~atoll.hub.telemetry.keeper.TelemetryKeeper`.

System readers see every series. A project's members see the series of their own servers
only (those with a ``server`` label naming a server of the project); a host's series are
the fleet's.
"""

from __future__ import annotations

import math

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.errors import InvalidInput, NotFound, Problem
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import query_filters, reply
from atoll.hub.sites import intent
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.query import list_all
from atoll.resources.alarm import METRIC

STEP = 60
MAX_BUCKETS = 1440  # points a series at most
DEFAULT_POINTS = 360
TIME = r"^[0-9]{1,11}(\.[0-9]{1,6})?$"
TIME_HELP = "must be epoch seconds"
QUERY = {
    "name": Field("string", required=True, pattern=f"^{METRIC}$", pattern_help="a metric name"),
    "site": Field("string", max_length=63, description="a site's name (default: every site)"),
    "server": Field("string", max_length=64, description="only this server's series"),
    "since": Field("string", pattern=TIME, pattern_help=TIME_HELP),
    "until": Field("string", pattern=TIME, pattern_help=TIME_HELP),
    "step": Field("string", pattern=r"^[0-9]{1,9}$", pattern_help="seconds"),
}
SERIES = Shape(
    "MetricSeries",
    {
        "site": Field("string", required=True),
        "labels": Field("object", required=True, values=Field("string")),
        "points": Field("array", required=True, items=Field("array", items=Field("number"))),
    },
)
RESULT = Shape(
    "MetricQuery",
    {
        "name": Field("string", required=True),
        "site": Field("string", required=True, nullable=True),
        "since": Field("number", required=True),
        "until": Field("number", required=True),
        "step": Field("integer", required=True),
        "fields": Field("array", required=True, items=Field("string")),
        "series": Field("array", required=True, items=Field("object", shape=SERIES)),
    },
)


def _window(params: dict[str, str], now: float) -> tuple[float, float, int]:
    until = float(params["until"]) if "until" in params else now
    since = float(params["since"]) if "since" in params else until - 3600
    span = max(0.0, until - since)
    asked = int(params.get("step") or 0) or span / DEFAULT_POINTS
    least = span / MAX_BUCKETS
    step = STEP * max(1, math.ceil(max(asked, least) / STEP))
    return since, until, step


async def query_metrics(request: web.Request) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    missing = [Problem(f"query.{k}", "is required") for k in ("name",) if k not in request.query]
    if missing:
        raise InvalidInput("the query is not valid", missing)
    params = query_filters(request, QUERY)
    since, until, step = _window(params, hub.clock())
    sites = {r.value["id"]: r.value["name"] for r in await list_all(hub.store, SITE_KIND, {})}
    site_ids: list[str] | None = None
    if "site" in params:
        try:
            site_ids = [(await hub.store.get(SITE_KIND, params["site"])).value["id"]]
        except NotFound:
            raise NotFound(f"site {params['site']} does not exist") from None
    labels = {"server": params["server"]} if "server" in params else None
    found = await hub.telemetry.query(params["name"], since, until, step, site_ids, labels)
    if not claims.system:  # a project sees its own servers' series only
        mine = {
            (r.value["site_id"], r.value["id"])
            for r in await list_all(
                hub.store, intent.SITE_OBJECT, {"kind": "server", "project_id": claims.project_id}
            )
        }
        found = [s for s in found if (s.site_id, s.labels.get("server")) in mine]
    series = [
        {"site": sites.get(s.site_id, s.site_id), "labels": s.labels,
         "points": [list(p) for p in s.points]}
        for s in found
    ]  # fmt: skip
    return reply({"name": params["name"], "site": params.get("site"), "since": since,
                  "until": until, "step": step, "fields": ["ts", "avg", "min", "max"],
                  "series": series})  # fmt: skip


ROUTES = [
    Route("GET", "/v1/metrics/query", "metrics.query", query_metrics,
          "Fleet telemetry: one metric's series over a time range, in steps",
          response=RESULT, query=QUERY, description=__doc__ or ""),
]  # fmt: skip
