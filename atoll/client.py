"""A small synchronous client for the hub's REST API, and the saved login the CLI uses.

``atoll login`` saves ``{"url", "token", "ca_file", "user", "project", "expires_at"}`` to
``$XDG_CONFIG_HOME/atoll/login.json`` (default ``~/.config/atoll``), mode 0600.
``ATOLL_URL``, ``ATOLL_TOKEN`` and ``ATOLL_CA_FILE`` override what was saved. Error replies
turn back into the error types of :mod:`atoll.errors` (the body's ``code`` picks the type),
so the CLI prints the hub's message and problems as they were written.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from atoll.certs import client_ssl_context
from atoll.errors import (
    AtollError,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Problem,
    StaleRevision,
    TemporaryError,
    Unauthenticated,
)

JSON = dict[str, Any]

_ERRORS: dict[str, type[AtollError]] = {
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "conflict": Conflict,
    "stale_revision": StaleRevision,
}


@dataclass(frozen=True)
class Login:
    url: str
    token: str
    ca_file: str | None = None
    user: str | None = None
    project: str | None = None
    expires_at: str | None = None


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "atoll"


def login_path(env: Mapping[str, str] | None = None) -> Path:
    return config_dir(env) / "login.json"


def save_login(login: Login, env: Mapping[str, str] | None = None) -> Path:
    path = login_path(env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(login), fh, indent=2)
    return path


def load_login(env: Mapping[str, str] | None = None) -> Login | None:
    path = login_path(env)
    try:
        data = json.loads(path.read_text())
        return Login(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"the saved login {path} is damaged; run 'atoll login' again") from exc


@dataclass(frozen=True)
class Reply:
    status: int
    data: Any
    headers: Mapping[str, str]


def error_from_body(status: int, data: object) -> AtollError:
    """The AtollError an error reply stands for."""
    body = data.get("error") if isinstance(data, dict) else None
    if not isinstance(body, dict):
        return AtollError(f"the hub answered {status} without an error body")
    message = str(body.get("message", ""))
    code = str(body.get("code", ""))
    if request_id := body.get("request_id"):
        message = f"{message} (request {request_id})"
    if code in ("invalid_input", "too_large", "method_not_allowed"):
        problems = [
            Problem(str(p.get("where", "")), str(p.get("what", "")))
            for p in body.get("problems") or []
            if isinstance(p, dict)
        ]
        kind = PayloadTooLarge if code == "too_large" else InvalidInput
        return kind(message, problems)
    error = _ERRORS.get(code, AtollError)(message)
    error.code = code or error.code
    return error


class HubClient:
    def __init__(
        self, url: str, token: str | None = None, ca_file: str | None = None, timeout: float = 30
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise ConfigError(f"the hub URL must look like https://host:8470, not {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.ca_file = ca_file
        self._timeout = timeout
        context: ssl.SSLContext | None = None
        if parsed.scheme == "https":
            context = client_ssl_context(Path(ca_file) if ca_file else None)
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str] | None = None,
        url: str | None = None,
        ca_file: str | None = None,
    ) -> HubClient:
        """The saved login, overridden by ATOLL_URL/ATOLL_TOKEN/ATOLL_CA_FILE, then flags."""
        env = os.environ if env is None else env
        saved = load_login(env)
        url = url or env.get("ATOLL_URL") or (saved.url if saved else None)
        if not url:
            raise ConfigError("no hub to talk to: run 'atoll login --url URL ...' or set ATOLL_URL")
        token = env.get("ATOLL_TOKEN") or (saved.token if saved else None)
        ca = ca_file or env.get("ATOLL_CA_FILE") or (saved.ca_file if saved else None)
        return cls(url, token, ca)

    def request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        query: Mapping[str, str] | None = None,
        if_match: str | None = None,
    ) -> Reply:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if if_match:
            headers["If-Match"] = if_match
        req = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with self._opener.open(req, timeout=self._timeout) as resp:
                return Reply(resp.status, _decode(resp.read()), dict(resp.headers))
        except urllib.error.HTTPError as exc:
            raise error_from_body(exc.code, _decode(exc.read())) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise ConfigError(
                    f"cannot verify the hub's certificate at {self.url}: pass --ca-file with "
                    "the hub's ca.pem"
                ) from exc
            raise TemporaryError(f"cannot reach the hub at {self.url}: {reason}") from exc
        except (TimeoutError, ConnectionError) as exc:
            raise TemporaryError(f"cannot reach the hub at {self.url}: {exc}") from exc

    def get(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, query=query).data

    def post(self, path: str, body: JSON) -> Any:
        return self.request("POST", path, body).data

    def patch(self, path: str, body: JSON, if_match: str | None = None) -> Any:
        return self.request("PATCH", path, body, if_match=if_match).data

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def list_all(self, path: str, query: Mapping[str, str] | None = None) -> list[JSON]:
        """Every item of a paged collection, following ``next_marker``."""
        items: list[JSON] = []
        params = dict(query or {})
        while True:
            page = self.get(path, params)
            items += page["items"]
            if not page.get("next_marker"):
                return items
            params["marker"] = page["next_marker"]


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw": raw[:200].decode(errors="replace")}


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")
