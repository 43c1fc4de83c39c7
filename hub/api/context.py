"""What a request handler can reach: the hub's services and the caller's verified claims."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from atoll.hub.identity.issuing import TokenIssuer
from atoll.hub.identity.revocation import Revocations
from atoll.hub.settings import HubSettings
from atoll.hub.store.base import Store
from atoll.passwords import Passwords
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


HUB = web.AppKey("hub", Hub)
CLAIMS_KEY = web.RequestKey("claims", Claims)
REQUEST_ID_KEY = web.RequestKey("request_id", str)


def hub_of(request: web.Request) -> Hub:
    return request.app[HUB]


def source_of(request: web.Request) -> str:
    """The caller's address, which failed logins are counted against."""
    return request.remote or "unknown"


def claims_of(request: web.Request) -> Claims:
    """The caller's verified claims (the auth middleware put them there)."""
    return request[CLAIMS_KEY]
