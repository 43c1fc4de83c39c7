"""A VNF package's content fetched from a URI (SOL005 ``upload_from_uri``).

The hub fetches only from the hosts its ``vnf_package_uri_hosts`` setting names (none by
default: the route is refused), on the ports it names: ``host`` is the scheme's own port
(80, 443), ``host:8080`` that port, ``host:*`` any. A fetch that fails says why (refused,
timed out, TLS), so the ports a tenant may name are the ports the operator chose; with
any port, a tenant can tell which of that host's ports answer. Over ``http``/``https``
(certificates verified against the system's CAs), it follows no redirect, and streams the
body in blocks like an upload, giving up after ``idle_timeout`` seconds without a byte. A
hub that fetched any URI a user names would let users reach whatever the hub can (its own
metadata service, internal hosts).
"""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
from collections.abc import AsyncIterator, Iterable

import aiohttp

from atoll.client.aio import new_session
from atoll.errors import ConfigError, Forbidden, InvalidInput, Problem

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
    allowed = uri_hosts(hosts)
    host = url.hostname.lower()
    ports = [port for name, port in allowed if name == host]
    if not ports:
        shown = ", ".join(sorted({name for name, _ in allowed})) or "none"
        raise Forbidden(
            f"this hub fetches VNF packages only from the hosts its vnf_package_uri_hosts "
            f"setting names ({shown}), not from {url.hostname}; upload the content instead "
            "(PUT .../package_content)"
        )
    default = DEFAULT_PORTS[url.scheme]
    port = url.port or default
    if not any(p in (ANY_PORT, port) or (p == SCHEME_PORT and port == default) for p in ports):
        shown = ", ".join(sorted({str(default if p == SCHEME_PORT else p) for p in ports}))
        raise Forbidden(
            f"this hub fetches VNF packages from {url.hostname} on port {shown} only (its "
            f"vnf_package_uri_hosts setting), not on port {port}; upload the content instead "
            "(PUT .../package_content)"
        )
    return text


DEFAULT_PORTS = {"http": 80, "https": 443}
SCHEME_PORT = -1  # a bare host in vnf_package_uri_hosts: the URI scheme's own port
ANY_PORT = 0  # host:*


def uri_hosts(entries: Iterable[str]) -> list[tuple[str, int]]:
    """``vnf_package_uri_hosts`` as (host, port) rules: ``host`` (:data:`SCHEME_PORT`),
    ``host:8080``, ``host:*`` (:data:`ANY_PORT`), IPv6 addresses in brackets with a port;
    ConfigError naming an entry that is none of these (checked when the hub starts)."""
    rules = []
    for entry in entries:
        text = entry.strip().lower()
        host, sep, port = text.rpartition(":")
        if not sep or "]" in port or (":" in host and not host.endswith("]")):
            host, port = text, ""  # a name, an IPv4 address or a bare IPv6 address
        host = host.removeprefix("[").removesuffix("]")
        if not host or not (port in ("", "*") or (port.isdigit() and 0 < int(port) < 65536)):
            raise ConfigError(
                f"[hub] vnf_package_uri_hosts: {entry!r} is not host, host:port or host:*"
            )
        rules.append((host, SCHEME_PORT if port == "" else ANY_PORT if port == "*" else int(port)))
    return rules


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
