"""The one HTTP client core every Atoll client is built on (CLI, site agent, image transfer).

:class:`Client` knows a base URL, a bearer token (and, optionally, how to get a new one when
the server answers 401: ``refresh``), timeouts and the CA file to trust; it sends through a
:class:`~atoll.client.transport.Transport` and decodes every error reply once, with
:func:`atoll.error_body.decode`, into the error tree. :class:`HubClient` adds where the CLI
finds its hub (a profile of clouds.toml, the saved login, ``ATOLL_*``).

``request()`` reads JSON in and out; ``raw=`` sends bytes or a file object as is (streamed),
``open()`` returns the reply unread for streaming downloads.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from atoll import error_body
from atoll.certs import client_ssl_context
from atoll.client import debug, profiles
from atoll.client.login import load_login
from atoll.client.transport import Request, Response, Transport, UrllibTransport
from atoll.errors import ConfigError, PermanentError, Unauthenticated
from atoll.jsonbody import JSON

MAX_REPLY = 64 * 1024 * 1024  # bytes of one reply read whole (pages, records: far less)


@dataclass(frozen=True)
class Reply:
    status: int
    data: Any
    headers: Mapping[str, str]
    raw: bytes = b""


class Client:
    """A blocking client of one server's REST API."""

    what = "the server"  # how messages name it
    example = "https://host:port"  # what its URL looks like
    ca_hint = "pass --ca-file with the hub's ca.pem"  # when its certificate does not verify

    def __init__(
        self,
        url: str,
        token: str | None = None,
        ca_file: str | None = None,
        timeout: float = 30,
        *,
        transport: Transport | None = None,
        refresh: Callable[[], str] | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise ConfigError(f"{self.what} URL must look like {self.example}, not {url!r}")
        self.url = url.rstrip("/")
        self.token = token
        self.ca_file = ca_file
        self.timeout = timeout
        self.refresh = refresh
        if transport is None:
            context = None
            if parsed.scheme == "https":
                context = client_ssl_context(Path(ca_file) if ca_file else None)
            transport = UrllibTransport(context, self.ca_hint)
        self.transport = transport

    def open(
        self,
        method: str,
        path: str,
        *,
        body: JSON | None = None,
        raw: bytes | BinaryIO | Iterable[bytes] | None = None,
        query: Mapping[str, str] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request; a 2xx reply is returned unread (the caller reads and closes it),
        anything else raises the error it stands for. A 401 is retried once after
        ``refresh`` when the client has one."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        sent: dict[str, str] = {"Accept": "application/json", **(headers or {})}
        data: bytes | BinaryIO | Iterable[bytes] | None = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.token:
                sent["Authorization"] = f"Bearer {self.token}"
            debug.request_sent(method, url, sent, data)
            resp = self.transport.send(
                Request(method, url, sent, data), self.timeout if timeout is None else timeout
            )
            if 200 <= resp.status < 300:
                return debug.Watched(resp, method, url) if debug.enabled() else resp
            raw_reply = _drain(resp, self.what)
            debug.reply_read(method, url, resp.status, resp.headers, raw_reply)
            can_retry = data is None or isinstance(data, bytes)
            if resp.status == 401 and self.refresh is not None and attempt == 1 and can_retry:
                self.token = self.refresh()
                continue
            raise error_body.decode(
                resp.status, decode_body(raw_reply), resp.headers.get("Retry-After")
            )
        raise Unauthenticated(f"{self.what} refused the new credentials for {method} {path}")

    def request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        query: Mapping[str, str] | list[tuple[str, str]] | None = None,
        if_match: str | None = None,
        *,
        raw: bytes | BinaryIO | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        extra = dict(headers or {})
        if if_match:
            extra["If-Match"] = if_match
        resp = self.open(method, path, body=body, raw=raw, query=query, headers=extra)
        content = _drain(resp, self.what)
        return Reply(resp.status, decode_body(content), resp.headers, content)

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

    def list_linked(self, path: str, query: Mapping[str, str] | None = None) -> list[JSON]:
        """Every item of a SOL013 list (the ETSI NFV APIs): bare arrays, the next page at
        ``Link: <URI>; rel="next"`` (its path and query are followed on this client's URL)."""
        items: list[JSON] = []
        target: str | None = path + ("?" + urllib.parse.urlencode(query) if query else "")
        while target is not None:
            reply = self.request("GET", target)
            items += reply.data
            target = _next_link(reply.headers.get("Link", ""))
        return items


def _next_link(header: str) -> str | None:
    """The path and query of a ``Link`` header's ``rel="next"`` URI, if it has one."""
    for part in header.split(","):
        match = re.fullmatch(r'\s*<([^>]*)>\s*;\s*rel="?next"?\s*', part)
        if match:
            url = urllib.parse.urlsplit(match.group(1))
            return url.path + ("?" + url.query if url.query else "")
    return None


class HubClient(Client):
    """A client of the hub's API, as the CLI and tools reach it."""

    what = "the hub"
    example = "https://host:8470"

    @classmethod
    def from_environment(
        cls,
        env: Mapping[str, str] | None = None,
        url: str | None = None,
        ca_file: str | None = None,
        cloud: str | None = None,
    ) -> HubClient:
        """The profile ``cloud`` (or ``ATOLL_CLOUD``) of clouds.toml, else the saved login,
        overridden by ATOLL_URL/ATOLL_TOKEN/ATOLL_CA_FILE, then flags."""
        env = os.environ if env is None else env
        name = profiles.cloud_name(cloud, env)
        if name is not None:
            return cls.from_profile(profiles.load_profile(name, env), env, url, ca_file)
        saved = load_login(env)
        url = url or env.get("ATOLL_URL") or (saved.url if saved else None)
        if not url:
            raise ConfigError("no hub to talk to: run 'atoll login --url URL ...' or set ATOLL_URL")
        token = env.get("ATOLL_TOKEN") or (saved.token if saved else None)
        ca = ca_file or env.get("ATOLL_CA_FILE") or (saved.ca_file if saved else None)
        return cls(url, token, ca)

    @classmethod
    def from_profile(
        cls,
        profile: profiles.Profile,
        env: Mapping[str, str],
        url: str | None = None,
        ca_file: str | None = None,
    ) -> HubClient:
        """A client of the profile's hub. A profile with an application credential (or a
        password you wrote in it) gets a token with it when it has none or the hub refuses
        the saved one, and saves the new token in the profile."""
        url = url or env.get("ATOLL_URL") or profile.url
        if not url:
            raise ConfigError(f"profile {profile.name!r} has no url")
        ca = ca_file or env.get("ATOLL_CA_FILE") or profile.ca_file
        login = _credential(profile)
        if login is None:
            return cls(url, env.get("ATOLL_TOKEN") or profile.token, ca)
        bare = cls(url, None, ca)

        def refresh() -> str:
            issued = bare.post("/v1/auth/tokens", login)
            token = str(issued["token"])
            renewed = profiles.Profile(profile.name, token=token, expires_at=issued["expires_at"])
            profiles.save_profile(renewed, env)
            return token

        client = cls(url, env.get("ATOLL_TOKEN") or profile.token, ca, refresh=refresh)
        if not client.token:
            client.token = refresh()
        return client


def _credential(profile: profiles.Profile) -> JSON | None:
    """What the profile logs in with: an application credential, or a written password."""
    if profile.application_credential_id and profile.application_credential_secret:
        return {
            "application_credential_id": profile.application_credential_id,
            "application_credential_secret": profile.application_credential_secret,
        }
    if profile.user and profile.password:
        body: JSON = {"user": profile.user, "password": profile.password}
        if profile.project:
            body["project"] = profile.project
        return body
    return None


def _drain(resp: Response, what: str) -> bytes:
    """The whole reply, up to :data:`MAX_REPLY` bytes (a longer one is refused unread)."""
    try:
        raw = resp.read(MAX_REPLY + 1)
    finally:
        resp.close()
    if len(raw) > MAX_REPLY:
        raise PermanentError(
            f"{what} answered with more than {MAX_REPLY} bytes: a reply that long is not read"
        )
    return raw


def decode_body(raw: bytes) -> Any:
    """A reply body as JSON (or ``{\"raw\": ...}`` for a body that is not, or that nests
    deeper than Python's parser goes: a server cannot make its caller fail with that)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return {"raw": raw[:200].decode(errors="replace")}


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")
