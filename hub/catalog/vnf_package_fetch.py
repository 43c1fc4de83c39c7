"""A VNF package's content fetched from a URI (SOL005 ``upload_from_uri``).

The hub fetches only from the hosts its ``vnf_package_uri_hosts`` setting names (none by
default: the route is refused), over ``http``/``https`` (certificates verified against the
system's CAs), follows no redirect, and streams the body in blocks like an upload, giving up
after ``idle_timeout`` seconds without a byte. A hub that fetched any URI a user names
would let users reach whatever the hub can (its own metadata service, internal hosts).
"""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
from collections.abc import AsyncIterator, Iterable

import aiohttp

from atoll.client.aio import new_session
from atoll.errors import Forbidden, InvalidInput, Problem

BLOCK = 1024 * 1024
WHERE = "body.addressInformation"


def allowed_uri(text: str, hosts: Iterable[str]) -> str:
    """``text`` if it is an http(s) URI on one of ``hosts`` (400 malformed, 403 elsewhere)."""
    try:
        url = urllib.parse.urlsplit(text)
        url.port  # noqa: B018 (a port that is no port raises here, as a bad IPv6 literal above)
    except ValueError as exc:
        raise InvalidInput("the package URI is not valid", [Problem(WHERE, str(exc))]) from exc
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InvalidInput(
            "the package URI is not valid", [Problem(WHERE, "must be an http:// or https:// URI")]
        )
    if url.username or url.password:
        raise InvalidInput(
            "the package URI is not valid",
            [Problem(WHERE, "give the credentials as userName and password, not in the URI")],
        )
    allowed = {h.lower() for h in hosts}
    if url.hostname.lower() not in allowed:
        shown = ", ".join(sorted(allowed)) or "none"
        raise Forbidden(
            f"this hub fetches VNF packages only from the hosts its vnf_package_uri_hosts "
            f"setting names ({shown}), not from {url.hostname}; upload the content instead "
            "(PUT .../package_content)"
        )
    return text


async def uri_blocks(
    url: str, user: str | None, password: str | None, idle_timeout: float
) -> AsyncIterator[bytes]:
    """The body at ``url`` in blocks; InvalidInput (400) naming what went wrong."""
    headers = {}
    if user:
        pair = f"{user}:{password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    timeout = aiohttp.ClientTimeout(sock_connect=idle_timeout, sock_read=idle_timeout)
    try:
        async with (
            new_session(timeout=timeout) as session,
            session.get(url, headers=headers, allow_redirects=False) as resp,
        ):
            if resp.status != 200:
                raise InvalidInput(
                    "the package URI did not give the package",
                    [Problem(WHERE, f"answered HTTP {resp.status} (a redirect is not followed)")],
                )
            async for block in resp.content.iter_chunked(BLOCK):
                yield block
    except (aiohttp.ClientError, TimeoutError, asyncio.IncompleteReadError) as exc:
        raise InvalidInput(
            "the package URI could not be read",
            [Problem(WHERE, f"{type(exc).__name__}: {exc}".rstrip(": "))],
        ) from exc
