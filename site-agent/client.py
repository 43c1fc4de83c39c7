"""``SiteClient``: a small blocking client of one agent's local API, for the CLI.

Errors in the agent's JSON shape come back as the matching :mod:`atoll.errors` type, with
the problems and the request id in the message, so the CLI prints what the agent said.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from atoll.errors import (
    AtollError,
    Conflict,
    DependencyError,
    Forbidden,
    InvalidInput,
    NotFound,
    Problem,
    TemporaryError,
    Unauthenticated,
)

_BY_STATUS: dict[int, type[AtollError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


class SiteClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            raise TemporaryError(f"cannot reach the site agent at {self.url}: {exc}") from exc
        return json.loads(raw) if raw else {}

    def token_for(self, secret: str, name: str = "admin") -> str:
        return str(
            self.request("POST", "/v1/auth/tokens", {"name": name, "secret": secret})["token"]
        )


def _error(status: int, raw: bytes) -> AtollError:
    try:
        err = json.loads(raw)["error"]
        message = f"{err['message']} (request {err.get('request_id', '?')})"
    except (ValueError, KeyError, TypeError):
        return DependencyError(f"the agent answered HTTP {status}: {raw[:200]!r}")
    if status in (400, 413):
        problems = [Problem(p.get("where", ""), p.get("what", "")) for p in err.get("problems", [])]
        return InvalidInput(message, problems)
    cls = _BY_STATUS.get(status, DependencyError)
    return cls(message)
