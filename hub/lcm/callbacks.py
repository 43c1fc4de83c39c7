"""Talking to a subscriber: where the hub may call, how it authenticates, what it sends.

**Where** (:func:`check_address`). A callback URL (and an OAuth 2.0 token endpoint) is a
place a tenant makes the hub send requests to. Its host, and every address its name
resolves to, must not be loopback, link-local (``169.254.169.254``: cloud metadata),
unspecified or multicast, unless the hub's ``lcm_callback_loopback`` setting allows it (a
lab on one machine); private networks are allowed (that is where VNFMs and OSS live). The
check runs when the subscription is created and again before every request (a name that
later resolves elsewhere is refused then), and the client connects only to addresses of the
lookup it checked (:class:`CheckedResolver`: a DNS answer that changes between the check and
the connection cannot slip a refused address in). Redirects are never followed. Callback
names are looked up in a small pool of their own (:data:`LOOKUP_THREADS`): a tenant naming
a host whose DNS never answers holds those threads, not the event loop's default pool the
hub's file work runs in.

**How** (:class:`Subscriber`). SOL013 §8: ``BASIC`` sends ``Authorization: Basic``;
``OAUTH2_CLIENT_CREDENTIALS`` gets a token from the token endpoint (RFC 6749 §4.4: a form
POST with ``grant_type=client_credentials``, the client id and password as HTTP basic
auth), keeps it until ``expires_in`` says it ends (or :data:`TOKEN_FALLBACK_TTL` when it
does not say), and gets a new one after a 401. Requests go through the one client core
(:class:`atoll.client.aio.AsyncClient`), with the ``Version`` header SOL013 asks for.

**What**. :meth:`Subscriber.test` is the check at creation (``GET`` on the callback must
answer 204, else :class:`CallbackRefused`, 422); :meth:`Subscriber.notify` POSTs one
notification body and returns when the subscriber answered 2xx, else raises what the
answer stands for (a :class:`~atoll.errors.TemporaryError` for an unreachable subscriber,
a 5xx or a 429).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import functools
import ipaddress
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult

from atoll.client.aio import TENANT_REPLY, AsyncClient
from atoll.errors import AtollError, InvalidInput, Problem, TemporaryError, Unauthenticated
from atoll.nfv.lcm.notifications import LccnSubscriptionRequest

SOL_VERSION = "2.0.0"
TOKEN_FALLBACK_TTL = 300.0  # seconds, for a token reply without expires_in
TOKEN_MARGIN = 10.0  # seconds: a token this close to its end is fetched again
LOOKUP_THREADS = 4  # callback and webhook names resolving at once, at most
_LOOKUPS = concurrent.futures.ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="callback-dns")


class CallbackRefused(InvalidInput):
    """The callback (or token endpoint) may not be called, or failed the test at creation."""

    code = "callback_refused"
    http_status = 422


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
    )


async def check_address(url: str, where: str, allow_loopback: bool) -> None:
    """Raise :class:`CallbackRefused` if the hub may not call ``url`` (module docstring)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
        if host and "[" not in parts.netloc:
            host.encode("idna")  # what the HTTP client will do with the name
    except ValueError as exc:  # a bad port, IPv6 literal or host name (UnicodeError)
        raise CallbackRefused("the URL cannot be called", [Problem(where, str(exc))]) from exc
    if parts.scheme not in ("http", "https") or not host:
        raise CallbackRefused(
            "the URL cannot be called", [Problem(where, "must be http(s)://host...")]
        )
    if allow_loopback:
        return
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await _lookup(host, port)
        except (OSError, UnicodeError) as exc:
            raise CallbackRefused(
                "the callback's host does not resolve",
                [Problem(where, f"{host}: {getattr(exc, 'strerror', None) or exc}")],
            ) from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    bad = sorted({str(a) for a in addresses if _refused(a)})
    if bad:
        raise CallbackRefused(
            "the hub does not call loopback, link-local or unspecified addresses",
            [Problem(where, f"{host} is {', '.join(bad)}")],
        )


async def _lookup(
    host: str, port: int | None, family: int = socket.AF_UNSPEC
) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` for a callback's host, in the callbacks' own pool of threads."""
    lookup = functools.partial(socket.getaddrinfo, host, port, family, socket.SOCK_STREAM)
    return await asyncio.get_running_loop().run_in_executor(_LOOKUPS, lookup)


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for callback and webhook clients: the addresses of one lookup
    (:func:`_lookup`) that :func:`check_address`'s rule allows; none is an OSError, which
    the client reports as an unreachable subscriber."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for found, _, proto, _, sockaddr in await _lookup(host, port, family):
            text = str(sockaddr[0])
            if not self.allow_loopback and _refused(ipaddress.ip_address(text.split("%")[0])):
                continue
            results.append(ResolveResult(
                hostname=host, host=text, port=int(sockaddr[1]), family=found, proto=proto,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV))  # fmt: skip
        if not results:
            raise OSError(f"{host} resolves to no address the hub may call")
        return results

    async def close(self) -> None:
        return None


def _split(url: str) -> tuple[str, str]:
    """``url`` as the client core's base (scheme and host) and path (with its query); a URL
    that does not split is left whole (:func:`check_address` refuses it before any call)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return url, ""
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return f"{parts.scheme}://{parts.netloc}", path


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Subscriber:
    """One subscription's callback, with its authentication (and cached OAuth 2.0 token)."""

    def __init__(
        self,
        request: LccnSubscriptionRequest,
        *,
        timeout: float,
        allow_loopback: bool,
        clock: Callable[[], float],
    ) -> None:
        self.request = request
        self.allow_loopback = allow_loopback
        self.clock = clock
        base, self.path = _split(request.callback_uri)
        self.client = AsyncClient(
            base,
            timeout=timeout,
            connections=2,
            resolver=CheckedResolver(allow_loopback),
            max_reply=TENANT_REPLY,
        )
        self.client.what = "the subscriber"
        self._token = ""
        self._token_until = 0.0

    async def close(self) -> None:
        await self.client.close()

    async def test(self) -> None:
        """SOL003's check at creation: ``GET`` on the callback answers 204."""
        where = "body.callbackUri"
        try:
            reply = await self._call("GET", None)
        except AtollError as exc:
            raise CallbackRefused(
                "the callback failed the test request", [Problem(where, exc.message)]
            ) from exc
        if reply.status != 204:
            raise CallbackRefused(
                "the callback failed the test request",
                [Problem(where, f"GET answered {reply.status}, not 204")],
            )

    async def notify(self, body: dict[str, Any]) -> None:
        """POST one notification; returns on 2xx, raises otherwise (3xx included)."""
        reply = await self._call("POST", body)
        if not 200 <= reply.status < 300:
            raise TemporaryError(
                f"the subscriber answered {reply.status} (redirects are not followed)"
            )

    async def _call(self, method: str, body: dict[str, Any] | None) -> Any:
        await check_address(self.request.callback_uri, "body.callbackUri", self.allow_loopback)
        for attempt in (1, 2):
            headers = {"Version": SOL_VERSION, "Accept": "application/json"}
            oauth = await self._oauth_header(renew=attempt == 2)
            headers["Authorization"] = oauth or self._basic_header()
            if not headers["Authorization"]:
                del headers["Authorization"]
            try:
                return await self.client.reply(
                    method, self.path, body, auth=False, headers=headers, follow_redirects=False
                )
            except Unauthenticated:
                if oauth and attempt == 1:
                    continue  # the token ended early: one more with a new one
                raise
        raise AssertionError("unreachable")

    def _basic_header(self) -> str:
        auth = self.request.authentication
        if auth is None or auth.params_basic is None or "BASIC" not in auth.auth_type:
            return ""
        return _basic(auth.params_basic.user_name, auth.params_basic.password)

    async def _oauth_header(self, renew: bool) -> str:
        auth = self.request.authentication
        if auth is None or "OAUTH2_CLIENT_CREDENTIALS" not in auth.auth_type:
            return ""
        params = auth.params_oauth2_client_credentials
        assert params is not None  # the model checks authType and its parameters agree
        if renew or not self._token or self.clock() >= self._token_until - TOKEN_MARGIN:
            self._token, self._token_until = await self._fetch_token(
                params.token_endpoint, params.client_id, params.client_password
            )
        return f"Bearer {self._token}"

    async def _fetch_token(self, url: str, client_id: str, secret: str) -> tuple[str, float]:
        where = "body.authentication.paramsOauth2ClientCredentials.tokenEndpoint"
        await check_address(url, where, self.allow_loopback)
        base, path = _split(url)
        endpoint = AsyncClient(base, timeout=self.client.timeout, connections=1,
                               resolver=CheckedResolver(self.allow_loopback),
                               max_reply=TENANT_REPLY)  # fmt: skip
        endpoint.what = "the token endpoint"
        try:
            reply = await endpoint.reply(
                "POST",
                path,
                auth=False,
                form={"grant_type": "client_credentials"},
                headers={"Authorization": _basic(client_id, secret), "Accept": "application/json"},
                follow_redirects=False,
            )
        finally:
            await endpoint.close()
        data = reply.data
        token = data.get("access_token") if isinstance(data, dict) else None
        if reply.status != 200 or not isinstance(token, str) or not token:
            raise TemporaryError(f"the token endpoint {url} gave no access_token")
        expires = data.get("expires_in")
        ttl = float(expires) if isinstance(expires, int | float) and expires > 0 else None
        return token, self.clock() + (TOKEN_FALLBACK_TTL if ttl is None else ttl)
