"""The asynchronous side of the one client core, for daemons (the site agent talking to the hub).

:class:`AsyncClient` is :class:`~atoll.client.core.Client`'s twin on aiohttp: the same base
URL, bearer token, ``refresh`` on a 401 (once), TLS context, and the same error decoding
(:func:`atoll.error_body.decode`). It owns one :class:`aiohttp.ClientSession`, made on first
use inside the running loop and closed by :meth:`AsyncClient.close`; streaming callers (the
chunk fetcher) use :meth:`AsyncClient.session` and :meth:`AsyncClient.raise_for_status`.

A reply is read whole, up to ``max_reply`` bytes: a longer one is refused without reading
more (:func:`read_reply`). The hub calls servers tenants name (LCM callbacks, their OAuth 2.0
token endpoints, alarm webhooks) and a site's first call goes to a hub it has not verified
yet; none of them can make the caller hold an endless body.

:func:`new_session` is the one place an aiohttp client session is made (this client's, the
package fetch's, the image transfer's, the site's sync websocket): it says
:data:`~atoll.client.transport.USER_AGENT`, not aiohttp's ``Python/3.x aiohttp/3.y``.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDict

from atoll import error_body
from atoll.client.core import MAX_REPLY, Reply
from atoll.client.core import decode_body as _decode
from atoll.client.transport import USER_AGENT
from atoll.errors import PermanentError, TemporaryError, Unauthenticated
from atoll.jsonbody import JSON

MAX_ERROR_REPLY = 1024 * 1024  # bytes of an error reply to a streamed request
# bytes of a reply from a server a tenant names (a callback, a token endpoint, a webhook):
# the hub reads a status, an error or an access token there, no more
TENANT_REPLY = 64 * 1024


def new_session(
    *, headers: Mapping[str, str] | None = None, **kwargs: Any
) -> aiohttp.ClientSession:
    """An aiohttp client session (``kwargs`` as aiohttp takes them) whose requests say
    :data:`~atoll.client.transport.USER_AGENT`; ``headers`` are sent with every request."""
    return aiohttp.ClientSession(headers={"User-Agent": USER_AGENT, **(headers or {})}, **kwargs)


class AsyncClient:
    what = "the hub"

    def __init__(
        self,
        url: str,
        token: str = "",
        ssl_context: ssl.SSLContext | None = None,
        *,
        timeout: float = 60.0,
        refresh: Callable[[], Awaitable[str]] | None = None,
        connections: int = 8,
        resolver: aiohttp.abc.AbstractResolver | None = None,
        max_reply: int = MAX_REPLY,
    ) -> None:
        self.url = url.rstrip("/")
        self.max_reply = max_reply
        self.token = token
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.refresh = refresh
        self.connections = connections
        self.resolver = resolver  # None: aiohttp's (the loop's default thread pool)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_arg: ssl.SSLContext | bool = self.ssl_context or True
            self._session = new_session(
                connector=aiohttp.TCPConnector(
                    ssl=ssl_arg, limit=self.connections, resolver=self.resolver
                ),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def auth_headers(self) -> dict[str, str]:
        """The bearer header, getting a token first (``refresh``) when there is none."""
        if not self.token and self.refresh is not None:
            self.token = await self.refresh()
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        *,
        query: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        """One JSON call; the decoded reply, or the error it stands for."""
        return (await self.reply(method, path, body, query=query, auth=auth)).data

    async def reply(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        *,
        query: Mapping[str, str] | None = None,
        auth: bool = True,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> Reply:
        """One call, the whole reply (status, decoded body, headers); a status of 400 or
        more raises the error it stands for. ``headers`` are sent as well (an
        ``Authorization`` among them replaces the bearer token), ``form`` is sent as
        ``application/x-www-form-urlencoded`` instead of a JSON ``body``; without
        ``follow_redirects`` a 3xx is returned as it is (callbacks a tenant names)."""
        for attempt in (1, 2):
            sent = {**(await self.auth_headers() if auth else {}), **(headers or {})}
            try:
                async with self.session().request(
                    method,
                    self.url + path,
                    json=body if form is None else None,
                    data=form,
                    params=query,
                    headers=sent,
                    allow_redirects=follow_redirects,
                ) as resp:
                    status = resp.status
                    got = CIMultiDict(resp.headers)
                    raw = await read_reply(resp, self.max_reply, self.what)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise TemporaryError(f"cannot reach {self.what} at {self.url}: {exc}") from exc
            data = _decode(raw)
            if status == 401 and auth and attempt == 1 and self.refresh is not None:
                self.token = await self.refresh()
                continue
            if status >= 400:
                raise error_body.decode(status, data, got.get("Retry-After"))
            return Reply(status, data, got, raw)
        raise Unauthenticated(f"{self.what} refused the new credentials for {method} {path}")

    async def list_all(self, path: str, query: Mapping[str, str] | None = None) -> list[Any]:
        """Every item of a paged collection, following ``next_marker`` (as
        :meth:`atoll.client.core.Client.list_all`)."""
        items: list[Any] = []
        params = dict(query or {})
        while True:
            page = await self.request("GET", path, query=params)
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise TemporaryError(f"{self.what}'s answer to GET {path} is not a page of items")
            items += page["items"]
            if not page.get("next_marker"):
                return items
            params["marker"] = str(page["next_marker"])

    @staticmethod
    async def raise_for_status(resp: aiohttp.ClientResponse) -> None:
        """Raise the error a non-2xx streamed reply stands for (its body is small)."""
        if resp.status < 400:
            return
        raw = await read_reply(resp, MAX_ERROR_REPLY, "the server")
        raise error_body.decode(resp.status, _decode(raw), resp.headers.get("Retry-After"))


async def read_reply(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The reply's body, or :class:`PermanentError` as soon as it is known to be longer than
    ``limit`` bytes (from its Content-Length, or as it arrives): nothing more is read and
    the connection is closed."""
    declared = resp.content_length
    if declared is None or declared <= limit:
        body = bytearray()
        async for data in resp.content.iter_any():
            body += data
            if len(body) > limit:
                break
        else:
            return bytes(body)
    resp.close()
    raise PermanentError(
        f"{what} answered {resp.method} {resp.url.path} with more than {limit} bytes:"
        " a reply that long is not read"
    )
