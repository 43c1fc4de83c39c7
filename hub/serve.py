"""``atoll hub serve``: open the store, seed it if empty, serve HTTPS (or loopback HTTP)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import time

from aiohttp import web
from cryptography import x509

from atoll import __version__, certs, listening, tokens
from atoll.errors import ConfigError, InvalidInput
from atoll.hub.api.observability import METRICS
from atoll.hub.app import build_app
from atoll.hub.bootstrap import DataDir, seed_store
from atoll.hub.migrations import migrate
from atoll.hub.settings import HubSettings
from atoll.hub.store import open_store
from atoll.hub.telemetry.keeper import FILE as TELEMETRY_FILE
from atoll.hub.telemetry.keeper import TelemetryKeeper
from atoll.images.settings import ImageSettings
from atoll.private_files import private_dir, private_files, restrict_umask
from atoll.sync.discovery import HUB_SERVICE, Advertiser
from atoll.sync.join import check_hub_url

log = logging.getLogger(__name__)


def tls_context(settings: HubSettings, layout: DataDir) -> ssl.SSLContext | None:
    if not settings.insecure_http:
        try:
            check_hub_url(settings.advertised_url(), "[hub] public_url")
        except InvalidInput as exc:
            raise ConfigError(str(exc)) from exc
        return certs.server_ssl_context(
            layout.server_cert, layout.server_key, client_ca=layout.ca_cert
        )
    listening.check_plain_http(
        settings.host,
        insecure=False,
        fix="--insecure-http serves plain HTTP only on a loopback address; drop it to serve "
        "HTTPS with the hub's own certificate",
    )
    log.warning("serving plain HTTP on %s: tokens and passwords cross in clear", settings.host)
    return None


def advertiser(settings: HubSettings, layout: DataDir) -> Advertiser | None:
    """The hub's zeroconf advert (``_atoll-hub._tcp``: version, CA pin), unless turned off."""
    if not settings.zeroconf:
        return None
    ca = x509.load_pem_x509_certificate(layout.ca_cert.read_bytes())
    properties = {"version": __version__, "ca": certs.ca_pin(ca)}
    return Advertiser(HUB_SERVICE, "atoll-hub", settings.port, properties)


async def serve(settings: HubSettings, image_settings: ImageSettings | None = None) -> None:
    layout = DataDir(settings.data_dir)
    layout.check_initialised()
    open_files = listening.open_files_limit()  # raised to the hard limit first
    log.info("open files limit: %d (a socket per connected site)", open_files)
    restrict_umask()  # uploaded chunks, packages, the store: private from the start
    private_dir(layout.path)  # and on an install made before these modes were kept
    private_files(layout.secret_files)
    signing_key = tokens.load_private_key(layout.token_key)
    ssl_context = tls_context(settings, layout)
    gate = listening.HandshakeGate(listening.HandshakeLimits.of(settings))
    store = open_store(settings.store, settings.data_dir)
    telemetry = TelemetryKeeper(
        None if settings.store == "memory" else layout.path / TELEMETRY_FILE,
        settings.telemetry_retention,
        time.time,
        settings.site_series_limit,
    )
    try:
        await seed_store(store, settings.data_dir)
        await migrate(store)
        app = build_app(
            settings, store, signing_key, image_settings=image_settings, telemetry=telemetry
        )
        # the errors middleware logs requests; a connection that has not sent a request's
        # headers within request_read_timeout of opening (or of its last answer) is closed
        runner = web.AppRunner(
            app, access_log=None, keepalive_timeout=settings.request_read_timeout
        )
        await runner.setup()
        listening.small_tls_reads(runner)  # ~30 KB, not 256 KiB, for each idle site session
        listening.anonymous_server_header()
        app[METRICS].registry.register(gate)
        try:
            site = listening.tcp_site(runner, settings.host, settings.port, ssl_context, gate)
            await listening.start_listening(site, settings.host, settings.port, "--port/--host")
            scheme = "http" if ssl_context is None else "https"
            print(f"hub serving on {scheme}://{settings.host}:{settings.port}", flush=True)
            advert = advertiser(settings, layout) if ssl_context is not None else None
            if advert is not None:
                await advert.start()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
            await stop.wait()
            log.info("stopping")
            if advert is not None:
                await advert.stop()
        finally:
            await runner.cleanup()
    finally:
        telemetry.close()
        await store.close()


def run(settings: HubSettings, image_settings: ImageSettings | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, image_settings))
