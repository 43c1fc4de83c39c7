"""The dashboard's routes on the hub: its page and assets, sign-in, the fleet overview and
the live event stream. Every other piece of data the pages show comes from the API itself,
called with the session (:mod:`.session`)."""

from __future__ import annotations

import asyncio
import json
import time
from importlib import resources

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import NAME_PATTERN, Field
from atoll.errors import NotFound
from atoll.hub.api.context import Hub, claims_of, hub_of
from atoll.hub.api.replies import page_params, query_filters, reply
from atoll.hub.dashboard import session
from atoll.hub.dashboard.events import (
    BATCH,
    BROADCASTER,
    HEARTBEAT,
    Broadcaster,
    last_event_id,
    visibility,
)
from atoll.hub.dashboard.fleet import all_sites, overview
from atoll.hub.sites.registry import STATES

STATIC = resources.files("atoll.hub.dashboard") / "static"
MEDIA = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
ASSETS = {p.name for p in STATIC.iterdir() if any(p.name.endswith(s) for s in MEDIA)}
# the page loads nothing but its own scripts and styles, and only this hub frames it
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
FLEET_QUERY = {
    "state": Field("string", enum=STATES),
    "region": Field("string", pattern=NAME_PATTERN, max_length=63),
}


def _asset(name: str) -> web.Response:
    if name not in ASSETS:
        raise NotFound(f"the dashboard has no file {name}")
    media = next(m for suffix, m in MEDIA.items() if name.endswith(suffix))
    body = (STATIC / name).read_bytes()
    return web.Response(body=body, content_type=media, charset="utf-8",
                        headers=SECURITY_HEADERS)  # fmt: skip


async def page(request: web.Request) -> web.Response:
    return _asset("index.html")


async def to_page(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ui/")


async def static(request: web.Request) -> web.Response:
    return _asset(request.match_info["file"])


async def fleet(request: web.Request) -> web.Response:
    started = time.perf_counter()
    limit, marker = page_params(request)
    filters = query_filters(request, FLEET_QUERY)
    sites = await all_sites(hub_of(request).store)
    response = reply(overview(sites, limit, marker, filters.get("state"), filters.get("region")))
    spent = (time.perf_counter() - started) * 1000
    response.headers["Server-Timing"] = f"app;dur={spent:.1f}"  # what bench/ reports
    return response


async def events(request: web.Request) -> web.StreamResponse:
    hub, claims = hub_of(request), claims_of(request)
    broadcaster = request.app[BROADCASTER]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
    })  # fmt: skip
    listener = broadcaster.attach(visibility(claims), last_event_id(request), claims.user)
    try:
        await response.prepare(request)
        hello = json.dumps({"revision": broadcaster.since, "heartbeat": HEARTBEAT})
        await response.write(f"retry: 2000\nid: {broadcaster.since}\nevent: hello\n"
                             f"data: {hello}\n\n".encode())  # fmt: skip
        while not broadcaster.closing:
            if claims.expires_at <= hub.clock() or hub.revocations.is_revoked(claims):
                await response.write(b"event: signed_out\ndata: {}\n\n")
                break
            try:
                await asyncio.wait_for(listener.news.wait(), HEARTBEAT)
            except TimeoutError:
                await response.write(b": heartbeat\n\n")
                continue
            await asyncio.sleep(BATCH)
            batch, resync = listener.take()
            if resync:
                await response.write(f"id: {broadcaster.since}\nevent: resync\ndata: {{}}\n\n"
                                     .encode())  # fmt: skip
            if batch:
                await response.write(b"".join(event.encode() for event in batch))
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        broadcaster.detach(listener)
    return response


ROUTES = [
    Route("GET", "/ui", "ui.redirect", to_page, "The dashboard (redirect)", public=True),
    Route("GET", "/ui/", "ui.page", page, "The dashboard's page", public=True),
    Route("GET", "/ui/static/{file}", "ui.static", static, "The dashboard's scripts and styles",
          public=True),
    Route("POST", "/ui/session", session.SIGN_IN, session.sign_in,
          "Sign in: a session cookie bound to a new token", public=True),
    Route("GET", "/ui/session", "ui.session.show", session.show,
          "The session: who, which project, until when, and its CSRF token"),
    Route("DELETE", "/ui/session", "ui.session.delete", session.sign_out,
          "Sign out: revoke the session's token and clear the cookie"),
    Route("GET", "/ui/fleet", "ui.fleet", fleet,
          "Fleet overview: counts by state, region grid, map points and a page of sites"),
    Route("GET", "/ui/events", "ui.events", events, "Live updates (server-sent events)"),
]  # fmt: skip


def install(app: web.Application, hub: Hub) -> None:
    """Add the dashboard to the hub's app: its routes and its one shared watcher."""
    broadcaster = Broadcaster(hub.store, per_owner=hub.settings.dashboard_streams_per_user)
    app[BROADCASTER] = broadcaster

    async def start(app: web.Application) -> None:
        await broadcaster.start()

    async def stop(app: web.Application) -> None:
        await broadcaster.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler, name=route.name)
