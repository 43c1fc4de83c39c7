"""What a request handler can reach: the hub's services and the caller's verified claims."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from atoll.hub.identity.issuing import TokenIssuer
from atoll.hub.identity.revocation import Revocations
from atoll.hub.settings import HubSettings
from atoll.hub.sites.peers import SiteNames, SitePeer
from atoll.hub.store.base import Store
from atoll.hub.telemetry.keeper import TelemetryKeeper
from atoll.passwords import Passwords
from atoll.throttle import RateLimit
from atoll.timestamps import iso
from atoll.tokens import Claims, TokenSigner, TokenVerifier


@dataclass(frozen=True)
class Hub:
    """The hub's services, built once by :func:`atoll.hub.app.build_app`."""

    settings: HubSettings
    store: Store
    signer: TokenSigner
    verifier: TokenVerifier
    revocations: Revocations
    passwords: Passwords
    issuer: TokenIssuer
    clock: Callable[[], float]
    telemetry: TelemetryKeeper  # the sites' metric points, outside the revisioned store
    site_names: SiteNames  # sites by the id their certificates name
    renewals: RateLimit  # site certificate renewals (site_renewals_per_hour), kept per site


HUB = web.AppKey("hub", Hub)
CLAIMS_KEY = web.RequestKey("claims", Claims)
REQUEST_ID_KEY = web.RequestKey("request_id", str)
SITE_PEER_KEY = web.RequestKey("site_peer", SitePeer)
# the token of the dashboard's session cookie, once its CSRF checks passed
# (:mod:`atoll.hub.dashboard.session`): authentication takes it like a bearer token
SESSION_TOKEN_KEY = web.RequestKey("session_token", str)


def hub_of(request: web.Request) -> Hub:
    return request.app[HUB]


def now_iso(request: web.Request) -> str:
    """The hub's clock now, as the records' timestamps say it."""
    return iso(hub_of(request).clock())


def base_url(request: web.Request) -> str:
    """Where clients reach the hub: ``public_url``, else the address this request came to
    (the Keystone catalog, SOL013 ``_links`` and ``Link`` headers name it)."""
    public = hub_of(request).settings.public_url.rstrip("/")
    return public or f"{request.scheme}://{request.host}"


def source_of(request: web.Request) -> str:
    """The caller's address, which failed logins are counted against."""
    return request.remote or "unknown"


def claims_of(request: web.Request) -> Claims:
    """The caller's verified claims (the auth middleware put them there)."""
    return request[CLAIMS_KEY]


def site_caller(request: web.Request) -> SitePeer | None:
    """The site agent calling by its certificate (no token), or None for a person."""
    return request.get(SITE_PEER_KEY)


def site_claims(peer: SitePeer) -> Claims:
    """What a site caller's requests run as: system scope, ``reader``, named for the site
    (``site:<name>``); the policy table's ``site`` rules decide what it may call at all."""
    return Claims(
        token_id=f"site-cert-{peer.serial}",
        user=f"site:{peer.site_name}",
        project=None,
        system=True,
        roles=("reader",),
        issued_at=0.0,
        expires_at=peer.not_after,
    )
