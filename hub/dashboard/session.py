"""Signing in to the dashboard: a session cookie that *is* an Atoll token, and CSRF checks.

``POST /ui/session {"user", "password", "project"?}`` issues an ordinary Atoll token (the
same issuer, throttle and policy as ``POST /v1/auth/tokens``) and sets it as the cookie
``__Host-atoll_session`` (``HttpOnly; Secure; SameSite=Strict; Path=/``, ``Max-Age`` the
token's remaining life): the session is the token, it expires with it and ends when it is
revoked. The ``__Host-`` prefix means no other host (a sibling subdomain) can plant one, and
every sign-in sets a new token, so a cookie planted before sign-in is never the session
after it (no fixation). ``DELETE /ui/session`` revokes the token and clears the cookie.

The cookie is accepted in place of ``Authorization: Bearer`` on every route of the hub (the
dashboard's pages call the same API, under the same policy table), by :func:`middleware`:

- a request that carries its own ``Authorization``/``X-Auth-Token`` ignores the cookie;
- a state-changing request (anything but GET, HEAD, OPTIONS) on the cookie must carry
  ``X-CSRF-Token`` equal to :func:`csrf_token` of the session (a digest of the token: the
  page learns it from ``GET /ui/session``; another origin can neither read it nor send the
  header without a CORS preflight the hub never grants), and an ``Origin`` header, if any,
  naming this hub. Sign-in checks the ``Origin`` too (no login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

from aiohttp import web
from aiohttp.typedefs import Handler

from atoll.errors import Forbidden
from atoll.hub.api.auth import BY_PASSWORD
from atoll.hub.api.context import SESSION_TOKEN_KEY, claims_of, hub_of, source_of
from atoll.hub.api.middleware import bearer_token
from atoll.hub.api.replies import read_body, reply
from atoll.timestamps import iso
from atoll.tokens import Claims

COOKIE = "__Host-atoll_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN = "ui.session.create"  # the route that takes no session: it makes one


def csrf_token(token: str) -> str:
    """The CSRF token of a session: derived from its token, so it needs no storage, ends
    with it, and does not reveal it."""
    digest = hashlib.sha256(b"atoll-ui-csrf\0" + token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def check_origin(request: web.Request) -> None:
    """Refuse a request whose ``Origin`` names another site (a browser always sends it on a
    cross-origin request)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != _own_origin(request):
        raise Forbidden(f"a request from origin {origin} may not use this hub's session")


def _signing_in(request: web.Request) -> bool:
    return request.match_info.route.name == SIGN_IN


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hand the session's token to authentication, after the CSRF checks (module doc)."""
    token = request.cookies.get(COOKIE)
    if not token or bearer_token(request) is not None or _signing_in(request):
        return await handler(request)  # sign-in sets a new session whatever the old one was
    if request.method not in SAFE_METHODS:
        check_origin(request)
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), csrf_token(token).encode()):
            raise Forbidden(
                f"a change made with the dashboard's session needs its {CSRF_HEADER} header "
                "(GET /ui/session tells it)"
            )
    request[SESSION_TOKEN_KEY] = token
    return await handler(request)


def session_view(claims: Claims, token: str) -> dict[str, object]:
    return {
        "user": claims.user,
        "project": claims.project,
        "system": claims.system,
        "roles": list(claims.roles),
        "expires_at": iso(claims.expires_at),
        "csrf_token": csrf_token(token),
    }


async def sign_in(request: web.Request) -> web.Response:
    hub, source = hub_of(request), source_of(request)
    check_origin(request)
    await hub.issuer.check_source(source)
    body = await read_body(request, BY_PASSWORD)
    issued = await hub.issuer.by_password(body["user"], body["password"], body.get("project"),
                                          source)  # fmt: skip
    response = reply(session_view(issued.claims, issued.token), status=201)
    life = max(0, math.floor(issued.claims.expires_at - hub.clock()))
    response.set_cookie(COOKIE, issued.token, max_age=life, path="/", secure=True,
                        httponly=True, samesite="Strict")  # fmt: skip
    return response


async def show(request: web.Request) -> web.Response:
    token = request.get(SESSION_TOKEN_KEY) or bearer_token(request) or ""
    return reply(session_view(claims_of(request), token))


async def sign_out(request: web.Request) -> web.Response:
    if request.get(SESSION_TOKEN_KEY) is None:
        raise Forbidden("sign out ends a dashboard session; a bearer token is revoked with "
                        "DELETE /v1/auth/tokens/current")  # fmt: skip
    claims = claims_of(request)
    await hub_of(request).revocations.revoke_token(claims.token_id, claims.user)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return response
