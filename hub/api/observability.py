"""``/healthz``, ``/readyz`` and ``/metrics``: what load balancers and Prometheus read.

- ``/healthz`` (public): the process answers (with no version, which a scanner would read; a
  system token reads it from ``atoll_build_info`` on ``/metrics``). ``/readyz`` (public): it
  can also read its store, load its CA (key and certificate: sites join and renew with it)
  and sign a token its own verifier accepts (503 otherwise, saying which), so a balancer
  stops sending requests to a hub cut off from etcd or whose data dir lost its keys.
- ``/metrics``: Prometheus text in conventional names (units in names, ``_total``
  counters): the process (``process_*``, ``python_*``), ``atoll_build_info``, every request
  by route and status (``atoll_hub_http_requests_total``, ``..._duration_seconds``), the
  store's operations (``atoll_hub_store_operation_duration_seconds{operation,backend}``,
  through :class:`atoll.hub.store.timed.TimedStore`), the background jobs' passes and
  failures (``atoll_hub_background_runs_total{job}``, ``..._failures_total``, through
  :data:`atoll.background.OBSERVER`), and
  per-site series with a ``site`` label read from the site records at scrape time (state,
  last seen, sync figures, capacity and usage), and the newest point of every series the
  sites' telemetry batches brought (:mod:`atoll.hub.telemetry`), named ``atoll_site_`` +
  the site's metric (``atoll_site_host_memory_available_bytes{site=...}``; a counter's
  minute average stays a ``_total`` counter; a name the hub's own figures use is theirs).
  It needs a system-scoped token unless the hub's ``metrics_auth`` setting is false (a
  scraper on a management network).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from atoll import certs, process_metrics
from atoll.api.routing import Route
from atoll.api.schema import Field
from atoll.errors import ConfigError
from atoll.hub.api.context import hub_of
from atoll.hub.api.replies import reply
from atoll.hub.sites.registry import SITE_KIND, STATES
from atoll.hub.store.query import list_all
from atoll.hub.telemetry.keeper import Latest
from atoll.jsonbody import JSON
from atoll.resources.alarm import METRIC
from atoll.timestamps import parse_iso
from atoll.tokens import Claims

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
# store operations: a point read takes tens of microseconds, an etcd commit milliseconds
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # fmt: skip


class HubMetrics:
    """The hub process's own registry: process, build and request series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        process_metrics.register(self.registry, "hub")
        self.requests = Counter(
            "atoll_hub_http_requests",
            "HTTP requests answered, by route name, method and status code",
            ["route", "method", "code"],
            registry=self.registry,
        )
        # each route's children, looked up once (labels() takes a lock and builds a key)
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.duration = Histogram(
            "atoll_hub_http_request_duration_seconds",
            "time to answer an HTTP request (until the handler returned), by route name",
            ["route", "method"],
            registry=self.registry,
        )

        self.store_duration = Histogram(
            "atoll_hub_store_operation_duration_seconds",
            "time the hub's store took to answer an operation (failed ones included), "
            "by operation and backend",
            ["operation", "backend"],
            registry=self.registry,
            buckets=STORE_BUCKETS,
        )
        self.background_runs = Counter(
            "atoll_hub_background_runs",
            "passes of the hub's background jobs (atoll.background loops), by job name",
            ["job"],
            registry=self.registry,
        )
        self.background_failures = Counter(
            "atoll_hub_background_failures",
            "passes of the hub's background jobs that failed, by job name",
            ["job"],
            registry=self.registry,
        )

    def store_timer(self, backend: str, operation: str) -> Callable[[float], None]:
        """Where a store operation's duration goes (:class:`atoll.hub.store.timed.StoreObserver`):
        the histogram child, bound once."""
        return self.store_duration.labels(operation, backend).observe

    def ran(self, name: str, ok: bool) -> None:
        """A background loop's pass (:class:`atoll.background.LoopObserver`)."""
        self.background_runs.labels(name).inc()
        if not ok:
            self.background_failures.labels(name).inc()

    @web.middleware
    async def count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)  # the errors middleware inside turns failures
        route = request.match_info.route.name or "unmatched"
        series = self._series.get((route, request.method, response.status))
        if series is None:  # a route, method and status seen for the first time
            series = (
                self.requests.labels(route, request.method, str(response.status)),
                self.duration.labels(route, request.method),
            )
            self._series[(route, request.method, response.status)] = series
        series[0].inc()
        series[1].observe(time.perf_counter() - started)
        return response


METRICS = web.AppKey("metrics", HubMetrics)


class _Sites(Collector):
    """Per-site series from a snapshot of the site records and of the telemetry keeper's
    newest points (taken once per scrape)."""

    def __init__(self, sites: list[JSON], latest: list[Latest]) -> None:
        self.sites = sites
        self.latest = latest

    def collect(self) -> Iterator[Metric]:
        def gauge(name: str, help_: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, help_, labels=["site", *labels])

        info = gauge("atoll_site_info", "one per site: its id and region", "site_id", "region")
        state = gauge("atoll_site_state", "1 for the state the site is in", "state")
        up = gauge("atoll_site_up", "1 if the site is online")
        seen = gauge("atoll_site_last_seen_timestamp_seconds", "when the site was last heard")
        acked = gauge("atoll_site_sync_acked_revision", "newest hub revision the site acked")
        pending = gauge("atoll_site_sync_pending_changes", "changes the site has not acked")
        acked_seq = gauge("atoll_site_sync_acked_seq", "newest site fact the hub recorded")
        outbox = gauge("atoll_site_sync_outbox_facts", "facts the site sent, not yet recorded")
        repairs = CounterMetricFamily(
            "atoll_site_sync_repairs", "objects anti-entropy repaired at the site", labels=["site"]
        )
        sessions = CounterMetricFamily(
            "atoll_site_sync_sessions", "sync sessions the site opened", labels=["site"]
        )
        capacity = gauge("atoll_site_capacity", "what the site offers", "resource")
        usage = gauge("atoll_site_usage", "what the site's servers use", "resource")
        for site in self.sites:
            name = str(site.get("name"))
            info.add_metric([name, str(site.get("id")), str(site.get("region"))], 1)
            for each in STATES:
                state.add_metric([name, each], 1 if site.get("state") == each else 0)
            up.add_metric([name], 1 if site.get("state") == "online" else 0)
            last = site.get("last_seen")
            if isinstance(last, str):
                seen.add_metric([name], parse_iso(last))
            sync = site.get("sync") or {}
            if isinstance(sync.get("acked_revision"), int):
                acked.add_metric([name], sync["acked_revision"])
            if isinstance(sync.get("pending_changes"), int):
                pending.add_metric([name], sync["pending_changes"])
            recorded, sent = sync.get("acked_seq"), sync.get("sent_seq")
            if isinstance(recorded, int) and isinstance(sent, int):
                acked_seq.add_metric([name], recorded)
                outbox.add_metric([name], max(sent - recorded, 0))
            for counter, key in ((repairs, "repairs"), (sessions, "sessions")):
                if isinstance(sync.get(key), int):
                    counter.add_metric([name], sync[key])
            for family, figures in ((capacity, site.get("capacity")), (usage, site.get("usage"))):
                for key, value in (figures or {}).items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        family.add_metric([name, key], value)
        own = (info, state, up, seen, acked, pending, acked_seq, outbox, repairs, sessions,
               capacity, usage)  # fmt: skip
        yield from own
        yield from self._telemetry({family.name for family in own})

    def _telemetry(self, taken: set[str]) -> Iterator[Metric]:
        """The sites' newest points, each with its own labels and ``site`` (a family's
        series need not share label names: padding each with every label name its family
        has anywhere made the page grow as series times names)."""
        names = {s.get("id"): str(s.get("name")) for s in self.sites}
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for point in self.latest:
            site, metric = names.get(point.site_id), point.metric
            if site is None or not re.fullmatch(METRIC, metric):
                continue
            base = "atoll_site_" + metric.removesuffix("_total")
            if base in taken:
                continue
            family = families.get(metric)
            if family is None:
                help_ = f"the site's {metric}, newest minute average (fleet telemetry)"
                kind = CounterMetricFamily if metric.endswith("_total") else GaugeMetricFamily
                family = families[metric] = kind(base, help_, labels=["site"])
            labels = {k: v for k, v in point.labels.items() if k != "site"}
            sample = base + "_total" if metric.endswith("_total") else base
            family.add_sample(sample, {**labels, "site": site}, point.value)
        yield from families.values()


async def healthz(request: web.Request) -> web.Response:
    return reply({"status": "ok"})  # no version: anyone may call it (the metrics have it)


async def readyz(request: web.Request) -> web.Response:
    hub = hub_of(request)
    try:
        revision = await hub.store.revision()
    except Exception as exc:  # any failure to reach the store means: not ready
        return reply({"status": "unavailable", "reason": f"the store: {exc}"}, status=503)
    try:
        await asyncio.to_thread(certs.load_key_and_cert, hub.settings.ca_key, hub.settings.ca_cert)
    except ConfigError as exc:  # no site can join or renew its certificate
        return reply({"status": "unavailable", "reason": f"the CA: {exc.message}"}, status=503)
    now = hub.clock()
    probe = Claims("readyz", "readyz", None, False, (), now, now + 60)
    try:
        hub.verifier.verify(hub.signer.sign(probe), now)
    except Exception as exc:  # a token the hub signs must pass its own verifier
        return reply({"status": "unavailable", "reason": f"the token keys: {exc}"}, status=503)
    return reply({"status": "ok", "revision": revision})


async def metrics(request: web.Request) -> web.Response:
    hub = hub_of(request)
    sites = [r.value for r in await list_all(hub.store, SITE_KIND, {})]
    per_scrape = CollectorRegistry(auto_describe=False)
    per_scrape.register(_Sites(sites, await hub.telemetry.latest()))
    body = generate_latest(request.app[METRICS].registry) + generate_latest(per_scrape)
    return web.Response(body=body, headers={"Content-Type": PROMETHEUS_TEXT})


STATUS = Field("object")
ROUTES = [
    Route("GET", "/healthz", "health.live", healthz, "The process answers", response=STATUS,
          public=True),
    Route("GET", "/readyz", "health.ready", readyz,
          "The hub can read its store, CA and token keys (503 if not)",
          response=STATUS, public=True, unavailable=True),
    Route("GET", "/metrics", "metrics.show", metrics,
          "Prometheus metrics (a system token unless metrics_auth is false)",
          raw_response=("text/plain",)),
]  # fmt: skip
