"""Request ids, the one error shape, authentication and authorization, for every route.

Order (outermost first): :func:`errors` gives every response an ``X-Request-Id`` and turns
every failure into ``{"error": {"code", "message", "request_id", "problems"?}}`` with the
status the error type carries (anything unexpected: a logged 500 with no detail to the
client; a SOL013 ProblemDetails on the ETSI NFV APIs, :mod:`.sol013`), and logs every
request once (:func:`atoll.logs.log_request`: request id, principal,
route, status, duration, :mod:`atoll.access_log`; every line logged meanwhile carries the
request id too);
:func:`authenticate` then finds the route's rule in the policy table (unlisted routes are
denied), verifies the token (``Authorization: Bearer`` or ``X-Auth-Token``, or the
dashboard's session cookie: :mod:`atoll.hub.dashboard.session`), checks revocation and the
rule, and hands the claims to the handler with the token's project bound to its immutable id
(:func:`~atoll.hub.identity.tenancy.bind`: a token of a deleted project is refused, even
when a new project has its name). A route whose rule admits sites also takes a request with
no token from a joined site agent's certificate (:func:`~atoll.hub.sites.peers.site_peer`; a
certificate of a gone site, or one the site has replaced, is a logged 401).
"""

from __future__ import annotations

import logging
import random

from aiohttp import web
from aiohttp.typedefs import Handler

from atoll import access_log, error_body
from atoll.api import slow_clients
from atoll.errors import (
    AtollError,
    Forbidden,
    InternalError,
    TooManyRequests,
    Unauthenticated,
)
from atoll.hub.api import sol013
from atoll.hub.api.context import (
    CLAIMS_KEY,
    REQUEST_ID_KEY,
    SESSION_TOKEN_KEY,
    SITE_PEER_KEY,
    hub_of,
    site_claims,
    source_of,
)
from atoll.hub.api.replies import reply
from atoll.hub.identity import policy, tenancy
from atoll.hub.sites.peers import site_peer

log = logging.getLogger(__name__)


def _error_response(request: web.Request, error: AtollError, request_id: str) -> web.Response:
    """The one error body; a ProblemDetails on the ETSI NFV APIs (:mod:`.sol013`)."""
    if sol013.api_of_request(request) is not None:
        response = sol013.problem_response(request, error, request_id)
    else:
        status = error.http_status if 400 <= error.http_status <= 599 else 500
        response = reply(error_body.encode(error, request_id), status)
    if isinstance(error, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="atoll"'
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def principal(request: web.Request) -> str:
    """Who made the request, for its log line (``-`` before or without authentication)."""
    claims = request.get(CLAIMS_KEY)
    if claims is None:
        return "-"
    return access_log.principal_of(claims.user, claims.project, claims.system)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    # a label to quote, not a secret: no getrandom() system call per request
    request_id = f"req-{random.getrandbits(96):024x}"
    request[REQUEST_ID_KEY] = request_id
    with access_log.answering(request_id) as started:
        response = await _answer(request, handler, request_id)
        response.headers["X-Request-Id"] = request_id
        access_log.log_answered(
            log,
            request,
            response.status,
            request_id=request_id,
            started=started,
            principal=principal(request),
        )
        if response.status == 408 and not response.prepared:
            await slow_clients.answer_and_close(request, response)
    return response


async def _answer(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
    try:
        response = await handler(request)
    except AtollError as exc:
        if exc.http_status < 500 and access_log.client_gone(request):  # its upload cut short
            return web.Response(status=access_log.CLIENT_CLOSED)
        if exc.http_status >= 500:
            log.error("%s %s failed: %s [%s]", request.method, request.path, exc, request_id)
        response = _error_response(request, exc, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:
            exc.headers["X-Request-Id"] = request_id
            raise
        response = _error_response(
            request,
            error_body.from_http(
                exc.status, exc.reason, text=exc.text or "", allow=exc.headers.get("Allow", "")
            ),
            request_id,
        )
        if exc.status == 405:
            response.headers["Allow"] = exc.headers.get("Allow", "")
    except Exception:
        if access_log.client_gone(request):  # it hung up (mid-body): nobody reads an answer
            return web.Response(status=access_log.CLIENT_CLOSED)
        log.exception("%s %s: internal error [%s]", request.method, request.path, request_id)
        error = InternalError(f"internal error; quote request id {request_id} to the operator")
        response = _error_response(request, error, request_id)
    return response


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return token.strip()
    other = request.headers.get("X-Auth-Token")
    return other.strip() if other is not None else None


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route
    http_error = request.match_info.http_exception
    if http_error is not None:
        raise http_error
    name = route.name or ""
    rule = policy.rule_for(name)
    if rule is None:
        raise Forbidden(f"{request.method} {request.path} is not in the policy table")
    if rule.public or (name == "metrics.show" and not hub_of(request).settings.metrics_auth):
        return await handler(request)
    token = bearer_token(request) or request.get(SESSION_TOKEN_KEY)
    hub = hub_of(request)
    if token is None and rule.site:
        try:
            peer = await site_peer(request, hub.site_names)
        except Unauthenticated as exc:
            log.warning("site certificate refused from %s: %s", source_of(request), exc)
            raise
        if peer is not None:
            request[SITE_PEER_KEY] = peer
            request[CLAIMS_KEY] = site_claims(peer)
            return await handler(request)
    if token is None:
        raise Unauthenticated(
            "this call needs a token: send 'Authorization: Bearer <token>' "
            "(get one with POST /v1/auth/tokens or 'atoll login')"
        )
    claims = hub.verifier.verify(token, hub.clock())
    if hub.revocations.is_revoked(claims):
        raise Unauthenticated("the token has been revoked; log in again")
    policy.authorize(name, claims)
    request[CLAIMS_KEY] = await tenancy.bind(hub.store, claims)
    return await handler(request)
