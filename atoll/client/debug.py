"""``atoll --debug``: each HTTP request and reply of the client core, with secrets masked.

:class:`~atoll.client.core.Client` calls :func:`request_sent` before it hands a request to
its transport and :func:`reply_read` when the reply is read, on the
:data:`atoll.logs.HTTP_LOGGER` logger at DEBUG, so every command and every client built on
the core shows its traffic and nothing has to be done per command. A reply the core hands
to its caller unread (a download) is logged when it is closed (:class:`Watched`).

Masked: the values of ``Authorization``, ``X-Auth-Token``, ``X-Subject-Token`` and cookies,
and of any JSON field whose name says password, secret or token (however deep). Bodies are
cut at :data:`BODY_LIMIT` characters; a binary body shows as its length.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from atoll.client.transport import Response
from atoll.logs import HTTP_LOGGER
from atoll.printable import escape

log = logging.getLogger(HTTP_LOGGER)

BODY_LIMIT = 2000
MASK = "***"
SECRET_HEADERS = frozenset(
    {"authorization", "x-auth-token", "x-subject-token", "cookie", "set-cookie"}
)
_SECRET_FIELD = re.compile(r"password|passwd|secret|token|private_key|credential_secret", re.I)


def enabled() -> bool:
    return log.isEnabledFor(logging.DEBUG)


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: MASK if k.lower() in SECRET_HEADERS else v for k, v in headers.items()}


def mask_json(value: Any) -> Any:
    """``value`` with every string or number under a secret-looking key masked."""
    if isinstance(value, Mapping):
        return {
            k: MASK if _SECRET_FIELD.search(str(k)) and value_is_secret(v) else mask_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    return value


def value_is_secret(value: Any) -> bool:
    """A scalar under a secret-looking key is masked; a list or object is looked into
    (``{"tokens": [...]}`` of a listing holds ids and dates, masked field by field)."""
    return not isinstance(value, Mapping | list) and value is not None


def show_body(body: object) -> str:
    """A request or reply body as the debug line shows it: masked, cut, printable."""
    if body is None or body == b"":
        return ""
    if not isinstance(body, bytes):
        return "<streamed>"
    try:
        text = json.dumps(mask_json(json.loads(body)), sort_keys=True)
    except ValueError:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return f"<{len(body)} bytes>"
    if len(text) > BODY_LIMIT:
        text = text[:BODY_LIMIT] + f"... ({len(text)} characters)"
    return escape(text)


def request_sent(method: str, url: str, headers: Mapping[str, str], body: object) -> None:
    if not enabled():
        return
    shown = show_body(body)
    log.debug(
        "REQ: %s %s headers=%s%s",
        method,
        escape(url),
        mask_headers(headers),
        f" body={shown}" if shown else "",
    )


def reply_read(method: str, url: str, status: int, headers: Mapping[str, str], body: bytes) -> None:
    if not enabled():
        return
    shown = show_body(body)
    log.debug(
        "RESP: %s %s -> %d headers=%s%s",
        method,
        escape(url),
        status,
        mask_headers(headers),
        f" body={shown}" if shown else "",
    )


class Watched:
    """A reply handed to its reader unread, logged (:func:`reply_read`) when it is closed:
    the body as read when it was small, else its length."""

    KEEP = 256 * 1024

    def __init__(self, resp: Response, method: str, url: str) -> None:
        self._resp, self._method, self._url = resp, method, url
        self._kept = bytearray()
        self._total = 0
        self._logged = False

    @property
    def status(self) -> int:
        return self._resp.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._resp.headers

    def read(self, size: int = -1, /) -> bytes:
        data = self._resp.read(size)
        self._total += len(data)
        if len(self._kept) < self.KEEP:
            self._kept += data[: self.KEEP - len(self._kept)]
        return data

    def close(self) -> None:
        self._resp.close()
        if self._logged:
            return
        self._logged = True
        body = bytes(self._kept) if self._total <= self.KEEP else b""
        reply_read(self._method, self._url, self.status, self.headers, body)
        if self._total > self.KEEP:
            log.debug("RESP: %s %s: %d bytes read", self._method, escape(self._url), self._total)
