"""Whether a daemon may listen without TLS, and the TLS context it listens with otherwise.

The rule both daemons keep: plain HTTP carries bearer tokens and credentials in clear, so it is
served without a word only on a loopback address. Anywhere else it needs TLS, or the operator
must say ``insecure`` out loud, and then every start logs a warning. The SSL context itself
comes from :func:`atoll.certs.server_ssl_context`, the one place contexts are made.

Both daemons also read TLS with :func:`small_tls_reads`: a connection's receive buffer starts
small and grows to asyncio's size on the first read that fills it, so a hub holding thousands
of idle site sessions does not hold a 256 KiB buffer for each; and :func:`open_files_limit`
lets a process hold as many sockets as its hard limit allows. Neither names its software
and versions in a ``Server`` header (:func:`anonymous_server_header`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import resource
import ssl
from pathlib import Path
from typing import Any

from aiohttp import web, web_response

from atoll import certs
from atoll.errors import ConfigError

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``); not ``0.0.0.0``/``::``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_plain_http(host: str, *, insecure: bool, fix: str) -> None:
    """Allow plain HTTP on ``host``: always on loopback; elsewhere only when ``insecure``, with
    a warning. Otherwise a ConfigError saying why and ``fix`` (how to turn TLS on)."""
    if is_loopback(host):
        return
    if not insecure:
        raise ConfigError(
            f"refusing to serve plain HTTP on {host}, which is not a loopback address: "
            f"tokens and credentials would cross the network in clear; {fix}"
        )
    log.warning(
        "serving plain HTTP on %s (insecure): tokens and credentials cross the network in "
        "clear; anyone on the path can read and replay them",
        host,
    )


def server_tls(
    host: str,
    cert_file: Path | None,
    key_file: Path | None,
    *,
    insecure: bool,
    fix: str,
) -> ssl.SSLContext | None:
    """The context to serve HTTPS with when a certificate and key are given; None (plain HTTP)
    when :func:`check_plain_http` allows it."""
    if cert_file is not None or key_file is not None:
        if cert_file is None or key_file is None:
            missing = "tls_cert_file" if cert_file is None else "tls_key_file"
            raise ConfigError(f"HTTPS needs both a certificate and its key: set {missing} too")
        return certs.server_ssl_context(cert_file, key_file)
    check_plain_http(host, insecure=insecure, fix=fix)
    return None


SERVER_NAME = "atoll"  # every answer's Server header: a product, no version


async def start_listening(site: web.TCPSite, host: str, port: int, flag: str) -> None:
    """Start ``site``; an address that cannot be bound (in use, not this host's, a privileged
    port) is a ConfigError naming the address, the reason and ``flag``, not a traceback."""
    try:
        await site.start()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(
            f"cannot listen on {host}:{port}: {reason.lower()} (another process serving "
            f"there? choose another with {flag})"
        ) from exc


def anonymous_server_header() -> None:
    """Every answer this process serves says ``Server: atoll``, not aiohttp's ``Python/3.x
    aiohttp/x.y.z`` (which tells a scanner, with no credential, which published flaws to try).

    aiohttp sets the header, when an answer has none, from its module's ``SERVER_SOFTWARE``,
    and sends it on the 400 it answers a request it cannot parse with too, which no route,
    middleware or ``on_response_prepare`` signal sees (aio-libs/aiohttp#3287). So the one
    default is replaced, for the whole process (call it before serving). A later aiohttp
    that reads it elsewhere makes ``tests/security/test_server_disclosure.py`` fail.
    """
    web_response.SERVER_SOFTWARE = SERVER_NAME  # type: ignore[attr-defined]


SMALL_TLS_READ = 32 * 1024  # a whole TLS record (16 KiB and its overhead) with room to spare
QUIET_READS = 16  # reads in a row under SMALL_TLS_READ before a big buffer is given back


def small_tls_reads(runner: web.AppRunner) -> None:
    """Every TLS connection ``runner`` accepts from now on receives into a small buffer.

    asyncio's TLS layer (``asyncio.sslproto.SSLProtocol``, Python 3.11 to 3.13) gives every
    connection a 256 KiB receive buffer, zero-filled, so resident, for as long as it is open:
    with a thousand sites each holding a sync session, most of the hub's memory. Here the
    buffer starts at :data:`SMALL_TLS_READ`; a read that fills it (an upload, a site's burst of
    reports after a reconnection) gives the connection asyncio's own size, so bulk bodies read
    as they did, and :data:`QUIET_READS` small reads in a row give it back. The buffer is a
    private part of asyncio: where it is not there (another event loop, another Python)
    nothing changes; ``tests/core/test_listening.py`` fails if it is gone on the Python we
    ship with.

    Call after ``runner.setup()`` (which makes the server that accepts connections).
    """
    server = runner.server
    if server is None:
        raise RuntimeError("small_tls_reads: call it after runner.setup()")
    made = server.connection_made

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        made(handler, transport)
        shrink_tls_reads(transport)

    server.connection_made = connection_made  # type: ignore[method-assign]


def shrink_tls_reads(transport: asyncio.BaseTransport) -> bool:
    """Give one TLS connection's receive buffer :func:`small_tls_reads`'s policy; whether it
    could (False: not asyncio's TLS transport, or one whose internals differ)."""
    tls = getattr(transport, "_ssl_protocol", None)
    if tls is None or not all(
        hasattr(tls, name) for name in ("_ssl_buffer", "_ssl_buffer_view", "max_size")
    ):
        return False
    if type(tls).max_size <= SMALL_TLS_READ:
        return False
    reads = _Reads(tls)
    reads.shrink()
    tls.buffer_updated = reads
    return True


class _Reads:
    """One connection's ``buffer_updated``: asyncio's, then the buffer's size for the next."""

    __slots__ = ("quiet", "received", "small", "tls")

    def __init__(self, tls: Any) -> None:
        self.tls = tls
        self.received = tls.buffer_updated  # asyncio's own (bound) method
        self.small = False
        self.quiet = 0

    def __call__(self, nbytes: int) -> None:
        self.received(nbytes)  # it reads the buffer's first nbytes: swap buffers only after
        if self.small:
            if nbytes >= SMALL_TLS_READ:  # filled: more is coming, read it as asyncio does
                self.small, self.quiet = False, 0
                del self.tls.max_size  # the class's size: get_buffer() makes the big buffer
        elif nbytes >= SMALL_TLS_READ:
            self.quiet = 0
        else:
            self.quiet += 1
            if self.quiet >= QUIET_READS:
                self.shrink()

    def shrink(self) -> None:
        self.small, self.quiet = True, 0
        self.tls.max_size = SMALL_TLS_READ  # get_buffer() hands out at most this much
        self.tls._ssl_buffer = bytearray(SMALL_TLS_READ)
        self.tls._ssl_buffer_view = memoryview(self.tls._ssl_buffer)


def open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (a hub holds a socket
    per site: 1,024, a common default, would refuse the 1,000th site); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return soft
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit from %d to %d: %s", soft, target, exc)
    return soft
