"""``build_app(settings, store, signing_key)``: the hub's aiohttp application.

Everything the handlers use goes in here (store, keys, clock), so tests build an app on a
:class:`~atoll.hub.store.memory.MemoryStore` with a fake clock, and ``atoll hub serve``
builds the same app on the configured store.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll import background
from atoll.api.routing import Route
from atoll.api.schema import Field
from atoll.hub.alarms.evaluator import AlarmEvaluator
from atoll.hub.api import (
    alarms,
    app_credentials,
    auth,
    conflicts,
    docs,
    flavors,
    image_transfers,
    image_uploads,
    images,
    join_tokens,
    keystone,
    middleware,
    observability,
    projects,
    purges,
    role_assignments,
    site_console,
    site_history,
    site_join,
    site_objects,
    sites,
    sol013,
    sync,
    telemetry,
    users,
    vnf_packages,
    vnflcm,
    vnflcm_subscriptions,
)
from atoll.hub.api.context import HUB, Hub
from atoll.hub.api.replies import reply
from atoll.hub.dashboard import routes as dashboard
from atoll.hub.dashboard import session as dashboard_session
from atoll.hub.identity import tenancy
from atoll.hub.identity.issuing import TokenIssuer
from atoll.hub.identity.revocation import Revocations
from atoll.hub.lcm.callbacks import CheckedResolver, check_address
from atoll.hub.lcm.delivery import Delivery
from atoll.hub.openapi import document
from atoll.hub.settings import HubSettings
from atoll.hub.sites import registry
from atoll.hub.sites.peers import SiteNames
from atoll.hub.store.base import Store
from atoll.hub.store.timed import TimedStore
from atoll.hub.sync import console as sync_console
from atoll.hub.sync import server as sync_server
from atoll.hub.telemetry.keeper import TelemetryKeeper
from atoll.images.settings import ImageSettings
from atoll.passwords import Passwords
from atoll.throttle import FailureThrottle, RateLimit
from atoll.tokens import TokenSigner, TokenVerifier

# The ETSI NFV APIs (SOL013 conventions: Version header, ProblemDetails, bare-array lists)
NFV_APIS: tuple[sol013.NfvApi, ...] = (vnf_packages.API, vnflcm.API)

RESOURCE_ROUTES: list[Route] = [
    *auth.ROUTES,
    *keystone.ROUTES,
    *projects.ROUTES,
    *users.ROUTES,
    *role_assignments.ROUTES,
    *app_credentials.ROUTES,
    *flavors.ROUTES,
    *sites.ROUTES,
    *site_objects.ROUTES,
    *site_console.ROUTES,
    *conflicts.ROUTES,
    *site_history.ROUTES,
    *sync.ROUTES,
    *join_tokens.ROUTES,
    *site_join.ROUTES,
    *sol013.version_routes(NFV_APIS),
    *vnf_packages.ROUTES,
    *vnflcm.ROUTES,
    *images.ROUTES,
    *image_uploads.ROUTES,
    *image_transfers.ROUTES,
    *observability.ROUTES,
    *vnflcm_subscriptions.ROUTES,
    *docs.ROUTES,
    *telemetry.ROUTES,
    *alarms.ROUTES,
]


ALARMS = web.AppKey("alarms", AlarmEvaluator)


def all_routes() -> list[Route]:
    async def show_openapi(request: web.Request) -> web.Response:
        return reply(document(all_routes(), NFV_APIS))

    openapi = Route(
        "GET",
        "/v1/openapi.json",
        "openapi.show",
        show_openapi,
        "This document",
        response=Field("object"),
        public=True,
    )
    return [openapi, *RESOURCE_ROUTES]


DELIVERY = web.AppKey("lcm_delivery", Delivery)  # the LCM notification delivery loop


def build_hub(
    settings: HubSettings,
    store: Store,
    signing_key: Ed25519PrivateKey,
    clock: Callable[[], float] = time.time,
    telemetry: TelemetryKeeper | None = None,
) -> Hub:
    signer = TokenSigner(signing_key)
    verifier = TokenVerifier([signing_key.public_key()], cache_size=10000)
    revocations = Revocations(store, clock, max_token_ttl=settings.token_ttl,
                              per_user=settings.token_revocations_per_user)  # fmt: skip
    passwords = Passwords(
        settings.password_time_cost,
        settings.password_memory_kib,
        settings.password_parallelism,
        workers=settings.password_workers,
        queue=settings.password_queue,
    )
    throttle = FailureThrottle(
        clock,
        per_source=settings.login_failures_per_source,
        per_source_user=settings.login_failures_per_source_user,
        window=settings.login_failure_window,
        refusal_delay=settings.login_refusal_delay,
    )
    issuer = TokenIssuer(store, passwords, signer, revocations, clock, settings.token_ttl, throttle)
    if telemetry is None:  # tests and the memory store: points kept in memory
        telemetry = TelemetryKeeper(None, settings.telemetry_retention, clock,
                                    settings.site_series_limit)  # fmt: skip
    return Hub(
        settings,
        store,
        signer,
        verifier,
        revocations,
        passwords,
        issuer,
        clock,
        telemetry,
        SiteNames(store),
        RateLimit(settings.site_renewals_per_hour, 3600.0, "certificate renewals"),
    )


def build_app(
    settings: HubSettings,
    store: Store,
    signing_key: Ed25519PrivateKey,
    clock: Callable[[], float] = time.time,
    image_settings: ImageSettings | None = None,
    telemetry: TelemetryKeeper | None = None,
) -> web.Application:
    """The hub's aiohttp app. ``image_settings`` default to ``[images]`` from ATOLL_CONFIG
    and the environment; ``atoll hub serve --config F`` passes the file's. ``telemetry``:
    the fleet telemetry keeper (``atoll hub serve`` opens it in the data dir; None: in
    memory)."""
    metrics = observability.HubMetrics()
    store = TimedStore(store, metrics)  # every part of the app times its store operations
    hub = build_hub(settings, store, signing_key, clock, telemetry)
    app = web.Application(
        middlewares=[
            metrics.count,
            middleware.errors,
            dashboard_session.middleware,
            middleware.authenticate,
            sol013.middleware,
        ],
        client_max_size=settings.max_body_bytes,
        # a SOL013 list query (filter, fields...: see atoll.hub.api.sol013) percent-encoded
        # can pass aiohttp's default 8 KiB request line; past this it is a bare 400
        handler_args={"max_line_size": 65536},
    )
    app[HUB] = hub
    app[observability.METRICS] = metrics

    async def observe_loops(app: web.Application) -> None:  # first: before any loop starts
        background.OBSERVER.set(metrics)

    app.on_startup.append(observe_loops)
    sol013.install(app, NFV_APIS)
    images.install(app, hub, image_settings)  # before the packages: they bind its images
    vnf_packages.install(app, hub, app[images.SHA512])
    vnflcm.install(app, hub)
    image_uploads.install(app, hub)
    purges.install(app, {tenancy.PURGE_KIND: projects.PURGE, registry.PURGE_KIND: sites.PURGE})
    syncing = sync_server.install(app, settings, store, clock, hub.telemetry, hub.site_names)
    sync_console.install(app, syncing, store, clock, settings.sync_max_frame)
    dashboard.install(app, hub)
    for route in all_routes():
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
    keystone.install(app)

    async def start_revocations(app: web.Application) -> None:
        await hub.revocations.start()

    async def stop_revocations(app: web.Application) -> None:
        await hub.revocations.stop()

    async def close_passwords(app: web.Application) -> None:
        hub.passwords.close()

    delivery = Delivery(store, settings, clock, metrics.registry)
    app[DELIVERY] = delivery

    async def start_delivery(app: web.Application) -> None:
        delivery.start()

    async def stop_delivery(app: web.Application) -> None:
        await delivery.stop()

    app.on_startup.append(start_revocations)
    app.on_startup.append(start_delivery)
    app.on_cleanup.append(stop_delivery)

    async def check_webhook(url: str) -> None:
        await check_address(url, "webhook", settings.alarm_webhook_loopback)

    resolver = CheckedResolver(settings.alarm_webhook_loopback)
    evaluator = AlarmEvaluator(settings, store, hub.telemetry, clock, check_webhook, resolver)

    async def start_alarms(app: web.Application) -> None:
        await evaluator.start()

    async def stop_alarms(app: web.Application) -> None:
        await evaluator.stop()

    app[ALARMS] = evaluator
    app.on_startup.append(start_alarms)
    app.on_shutdown.append(stop_alarms)
    app.on_cleanup.append(stop_revocations)
    app.on_cleanup.append(close_passwords)
    return app
