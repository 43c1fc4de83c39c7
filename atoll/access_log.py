"""The one log line per HTTP request both daemons write (hub and site agent middlewares).

``POST /v1/projects -> 201 in 3.1 ms (route projects.create, by admin@system) [req-...]``,
at INFO (a 5xx at WARNING); as JSON the same with ``request_id``, ``method``, ``path``,
``route``, ``status``, ``duration_ms`` and ``principal`` fields. :func:`answering` marks the
request's id for every other line logged while it is answered (:data:`atoll.logs.REQUEST_ID`).

A client that closes its connection before the answer (a dropped upload, a killed ``curl``)
is no error of the daemon's: :func:`client_gone` tells the middlewares, which log it at INFO,
without a traceback, as :data:`CLIENT_CLOSED` (nginx's 499), not as a 500 (found by a probe:
anyone could fill the log with tracebacks and the 5xx figures with their own hang-ups).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from atoll.logs import REQUEST_ID

CLIENT_CLOSED = 499  # the status logged (and counted) for a request its client hung up on


def client_gone(request: web.Request) -> bool:
    """The request's connection is closed: no answer can reach its client any more."""
    transport = request.transport
    return transport is None or transport.is_closing()


def principal_of(user: str | None, project: str | None = None, system: bool = False) -> str:
    """How a log line names who made a request: ``alice@demo`` (a project's), ``admin@system``,
    ``local:admin`` (unscoped), ``-`` (nobody yet)."""
    if user is None:
        return "-"
    scope = "system" if system else project
    return f"{user}@{scope}" if scope else user


def route_of(request: web.Request) -> str:
    """The route's name (the policy table's), else its path pattern."""
    route = request.match_info.route
    if route.name:
        return route.name
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


@contextmanager
def answering(request_id: str) -> Iterator[float]:
    """While a request is answered: its id on every log line; yields when it started."""
    token = REQUEST_ID.set(request_id)
    try:
        yield time.perf_counter()
    finally:
        REQUEST_ID.reset(token)


def log_answered(
    logger: logging.Logger,
    request: web.Request,
    status: int,
    *,
    request_id: str,
    started: float,
    principal: str,
) -> None:
    level = logging.WARNING if status >= 500 else logging.INFO
    if not logger.isEnabledFor(level):
        return
    ms = round((time.perf_counter() - started) * 1000, 1)
    route = route_of(request)
    logger.log(
        level,
        "%s %s -> %d in %.1f ms (route %s, by %s)",
        request.method,
        request.path,
        status,
        ms,
        route,
        principal,
        extra={
            "request_id": request_id,
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": status,
            "duration_ms": ms,
            "principal": principal,
        },
    )
