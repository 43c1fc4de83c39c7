"""The one JSON error body of both APIs (hub and site agent), written and read here only.

::

    {"error": {"code": "invalid_input", "message": "the server is not valid",
               "request_id": "req-...", "problems": [{"where": "body.flavor", "what": "..."}]}}

:func:`encode` is what both daemons' error middlewares send; :func:`decode` is what every
client (CLI, site agent to hub, image transfers) turns a reply back into: the error type of
:mod:`atoll.errors` named by ``code`` (so the retry decision travels with it), the request id
in the message (so a user can quote it to an operator), and the problems kept whatever the
code (the image service refuses uploads with ``image_rejected`` and a list of reasons).

The ETSI NFV APIs (``/vnfpkgm``, ``/vnflcm``: SOL013 §6.4) answer the same error as a
ProblemDetails (:func:`encode_problem`, ``application/problem+json``)::

    {"type": "tag:atoll,2026:error:invalid_input", "title": "Bad Request", "status": 400,
     "detail": "the attribute filter is not valid\n  - filter: (xx,a,b): ...",
     "instance": "/vnfpkgm/v1/vnf_packages", "code": "invalid_input",
     "request_id": "req-...", "problems": [{"where": "filter: ...", "what": "..."}]}

``status`` and ``detail`` are SOL013's mandatory members; ``type`` carries the stable code
(also given as ``code``), ``detail`` the whole message with every problem, so clients that
print only ``detail`` (python-tackerclient) show what to fix. :func:`decode` reads both.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from atoll.errors import (
    AtollError,
    Conflict,
    DependencyError,
    Forbidden,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PermanentError,
    Problem,
    StaleRevision,
    TemporaryError,
    Unauthenticated,
)

_BY_CODE: dict[str, type[AtollError]] = {
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "conflict": Conflict,
    "stale_revision": StaleRevision,
    "temporary": TemporaryError,
    "permanent": PermanentError,
    "dependency": DependencyError,
}
_BY_STATUS: dict[int, type[AtollError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


def encode(error: AtollError, request_id: str) -> dict[str, Any]:
    """The body a daemon answers ``error`` with."""
    message = error.summary if isinstance(error, InvalidInput) else error.message
    body: dict[str, Any] = {"code": error.code, "message": message, "request_id": request_id}
    if isinstance(error, InvalidInput) and error.problems:
        body["problems"] = [{"where": p.where, "what": p.what} for p in error.problems]
    return {"error": body}


PROBLEM_MEDIA = "application/problem+json"
PROBLEM_TYPE = "tag:atoll,2026:error:"


def encode_problem(error: AtollError, request_id: str, instance: str) -> dict[str, Any]:
    """The SOL013 ProblemDetails body a daemon answers ``error`` with on an NFV API;
    ``instance`` is the request's path."""
    status = error.http_status if 400 <= error.http_status <= 599 else 500
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + error.code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": error.message,
        "instance": instance,
        **encode(error, request_id)["error"],
    }
    body.pop("message")
    return body


def from_http(status: int, reason: str, *, text: str = "", allow: str = "") -> AtollError:
    """The error an HTTP-level refusal by the web framework stands for (no route, wrong
    method, body too large...), so both daemons answer it in the one body with a stable code."""
    if status == 405:
        return MethodNotAllowed(f"this path does not take that method; it takes {allow}")
    if status == 413:
        return PayloadTooLarge(f"the request body is too large ({text or 'limit exceeded'})")
    if status == 404:
        return NotFound("no such API path; see the API's openapi.json")
    return _BY_STATUS.get(status, InvalidInput)(reason)


def decode(status: int, data: object, retry_after: str | None = None) -> AtollError:
    """The error a reply with HTTP ``status`` and decoded body ``data`` (the JSON error body
    or a ProblemDetails) stands for."""
    body = data.get("error") if isinstance(data, dict) else None
    if isinstance(data, dict) and body is None and "detail" in data and "status" in data:
        body = {**data, "message": _problem_summary(data)}
    if not isinstance(body, dict):
        text = f"the server answered HTTP {status} without an error body"
        if status == 429 or status >= 500:
            return TemporaryError(text, delay=_delay(retry_after))
        return _BY_STATUS.get(status, AtollError)(text)
    message = str(body.get("message", ""))
    code = str(body.get("code", ""))
    if request_id := body.get("request_id"):
        message = f"{message} (request {request_id})"
    problems = [
        Problem(str(p.get("where", "")), str(p.get("what", "")))
        for p in body.get("problems") or []
        if isinstance(p, dict)
    ]
    error: AtollError
    if code in ("invalid_input", "too_large", "method_not_allowed") or problems:
        kind = PayloadTooLarge if code == "too_large" or status == 413 else InvalidInput
        error = kind(message, problems)
    elif status == 429:
        error = TemporaryError(message, delay=_delay(retry_after))
    elif code in _BY_CODE:
        error = _BY_CODE[code](message)
    elif status >= 500:
        error = TemporaryError(message) if status in (502, 503, 504) else PermanentError(message)
    else:
        error = _BY_STATUS.get(status, AtollError)(message)
    error.code = code or error.code
    return error


def _problem_summary(data: dict[str, Any]) -> str:
    """A ProblemDetails' message: its detail, less the problem lines listed apart."""
    detail = str(data.get("detail", ""))
    return detail.split("\n  - ", 1)[0] if data.get("problems") else detail


def _delay(retry_after: str | None) -> float:
    try:
        return max(float(retry_after or 1.0), 0.0)
    except ValueError:
        return 1.0
