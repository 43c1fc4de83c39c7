"""Request ids, the one JSON error shape, and bearer-token authentication by the policy table.

Every response carries ``X-Request-Id`` (the client's, when it sent a sane one). Every
error is ``{"error": {"code", "message", "request_id", "problems"?}}``, the shape the hub
uses: an :class:`~atoll.errors.AtollError` gives its code and status; aiohttp's own HTTP
errors (unknown route, wrong method) are mapped; anything else is logged with its
traceback and answered as a 500 ``internal`` error without one. Every request is logged
once, as the hub logs them (:mod:`atoll.access_log`); one whose client hung up before the
answer (mid-body: an upload cut short) is logged as 499 at INFO, never as the agent's 500.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from atoll import access_log, error_body, tokens
from atoll.api import slow_clients
from atoll.errors import AtollError, Forbidden, InternalError, TooManyRequests, Unauthenticated
from atoll.site_agent.api.context import ApiContext
from atoll.site_agent.api.policy import POLICY
from atoll.site_agent.auth import authorize
from atoll.site_agent.operations import ACTOR

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", tokens.Claims)
CTX = web.AppKey("ctx", ApiContext)


def error_response(exc: AtollError, request_id: str) -> web.Response:
    status = exc.http_status
    resp = web.json_response(error_body.encode(exc, request_id), status=status)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="atoll-site"'
    if isinstance(exc, TooManyRequests):
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _SANE_ID.match(incoming) else f"req-{uuid.uuid4().hex}"
    request[REQUEST_ID] = rid
    with access_log.answering(rid) as started:
        resp = await _answer(request, handler, rid)
        resp.headers["X-Request-Id"] = rid
        if resp.status == 408 and not resp.prepared:  # the rest of its body never came
            await slow_clients.answer_and_close(request, resp)
        claims = request.get(PRINCIPAL)
        who = "-" if claims is None else access_log.principal_of(claims.user, claims.project)
        access_log.log_answered(
            log, request, resp.status, request_id=rid, started=started, principal=who
        )
    return resp


async def _answer(request: web.Request, handler: Handler, rid: str) -> web.StreamResponse:
    try:
        resp = await handler(request)
    except AtollError as exc:
        if exc.http_status < 500 and access_log.client_gone(request):  # its upload cut short
            return web.Response(status=access_log.CLIENT_CLOSED)
        if exc.http_status >= 500:
            log.warning("request %s %s failed: %s", request.method, request.path, exc.message)
        resp = error_response(exc, rid)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        http = error_body.from_http(
            exc.status, exc.reason, text=exc.text or "", allow=exc.headers.get("Allow", "")
        )
        resp = web.json_response(error_body.encode(http, rid), status=exc.status)
    except Exception:
        if access_log.client_gone(request):  # it hung up (mid-body): nobody reads an answer
            return web.Response(status=access_log.CLIENT_CLOSED)
        log.exception(
            "internal error handling %s %s (request %s)", request.method, request.path, rid
        )
        body = error_body.encode(InternalError("the agent hit an internal error; see its log"), rid)
        resp = web.json_response(body, status=500)
    return resp


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer`` or, as the hub takes it, ``X-Auth-Token``."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
        return token.strip()
    other = request.headers.get("X-Auth-Token", "").strip()
    return other or None


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The route's entry in the policy table (unlisted: refused), then the token it needs."""
    http_error = request.match_info.http_exception
    if http_error is not None:
        raise http_error
    name = request.match_info.route.name or ""
    access = POLICY.get(name)
    if access is None:
        raise Forbidden(f"{request.method} {request.path} is not in the policy table")
    ctx = request.app[CTX]
    if access == "public" or (access == "metrics" and not ctx.metrics_auth):
        return await handler(request)
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated(
            "this API needs a bearer token: Authorization: Bearer <token> "
            "(get one at POST /v1/auth/tokens with the local admin credential)"
        )
    claims = ctx.auth.verify(token)
    authorize(claims, write=access == "write")
    request[PRINCIPAL] = claims
    ACTOR.set(claims.user)  # operation records name who made a local change
    return await handler(request)
