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

Both serve TLS through :func:`tcp_site`, which bounds what a connection may cost before its
handshake is done (:class:`HandshakeGate`): asyncio's own TLS listener starts every accepted
connection's handshake, with nothing to refuse it first, and waits 60 s for one that stalls.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import resource
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from aiohttp import web, web_response

from atoll import certs
from atoll.errors import ConfigError

if TYPE_CHECKING:  # prometheus-client is imported when /metrics is first read
    from prometheus_client.core import Metric

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


async def start_listening(site: web.BaseSite, host: str, port: int, flag: str) -> None:
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


# TLS handshakes: what a connection may cost before its handshake is done

REFUSAL_LOG_EVERY = 60.0  # seconds: one source's refusals are logged at most this often
REFUSALS_LOGGED = 64  # sources logged within that time; past them, one line for all the rest


@dataclass(frozen=True)
class HandshakeLimits:
    """What TLS connections may cost before their handshakes are done (each daemon's
    ``tls_handshakes_per_source``, ``tls_handshakes`` and ``tls_handshake_timeout``)."""

    per_source: int = 128  # handshakes in progress at once from one source (source_of); 0: any
    total: int = 512  # handshakes in progress at once in all; 0: any number
    timeout: float = 10.0  # seconds a handshake may take before its connection is closed

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ConfigError("tls_handshake_timeout must be more than 0 seconds")

    @classmethod
    def of(cls, settings: HandshakeSettings) -> HandshakeLimits:
        """A daemon's limits, from its settings of these names."""
        return cls(
            settings.tls_handshakes_per_source,
            settings.tls_handshakes,
            settings.tls_handshake_timeout,
        )


class HandshakeSettings(Protocol):
    """The settings both daemons bound TLS handshakes with (``[hub]``, ``[site_agent]``)."""

    @property
    def tls_handshakes_per_source(self) -> int: ...
    @property
    def tls_handshakes(self) -> int: ...
    @property
    def tls_handshake_timeout(self) -> float: ...


def source_of(peername: object) -> str:
    """What a connection's handshakes are counted under: its IPv4 address, or its IPv6
    address's /64 (a host's usual allotment: one address each would let whoever holds one
    spread a flood over 2^64 of them); an IPv4 address mapped into IPv6 is that address."""
    host = peername[0] if isinstance(peername, tuple) and peername else None
    if not isinstance(host, str):
        return "unknown"
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


class HandshakeGate:
    """TLS handshakes in progress, bounded per source (:func:`source_of`) and in total.

    :meth:`admit` is asked as a connection is accepted, before a byte of it is read: over a
    bound, the connection is to be closed at once (no ServerHello, no key exchange: nothing
    spent on it but the accept), and the refusal is counted and logged, at most once every
    :data:`REFUSAL_LOG_EVERY` seconds for a source (the total bound's refusals: once as
    often, naming the source with the most handshakes in progress). :meth:`release` ends an
    admitted handshake, however it ended. The figures are ``/metrics`` series (:meth:`collect`,
    a prometheus-client collector): ``atoll_tls_handshakes_refused_total{limit}``,
    ``atoll_tls_handshake_timeouts_total`` and ``atoll_tls_handshakes_in_progress``.
    """

    def __init__(
        self,
        limits: HandshakeLimits = HandshakeLimits(),  # frozen: one default is all
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.in_progress = 0
        self.refused = {"per_source": 0, "total": 0}
        self.timeouts = 0
        self._sources: dict[str, int] = {}  # handshakes in progress, by source
        self._logged: OrderedDict[str, float] = OrderedDict()  # when, oldest first

    def admit(self, source: str) -> bool:
        """Whether a connection from ``source`` may start its handshake (counted if so)."""
        limits, count = self.limits, self._sources.get(source, 0)
        if limits.per_source and count >= limits.per_source:
            self._refuse("per_source", source)
            return False
        if limits.total and self.in_progress >= limits.total:
            self._refuse("total", source)
            return False
        self._sources[source] = count + 1
        self.in_progress += 1
        return True

    def release(self, source: str) -> None:
        """An admitted handshake from ``source`` is over (done, failed or timed out)."""
        count = self._sources.pop(source) - 1
        if count:
            self._sources[source] = count
        self.in_progress -= 1

    def _refuse(self, limit: str, source: str) -> None:
        self.refused[limit] += 1
        now, logged = self.clock(), self._logged
        while logged and now - next(iter(logged.values())) >= REFUSAL_LOG_EVERY:
            logged.popitem(last=False)
        key = source if limit == "per_source" else " total"
        if key not in logged and len(logged) >= REFUSALS_LOGGED:
            key = " more"
        if key in logged:
            return
        logged[key] = now
        if key == " more":
            log.warning(
                "refusing TLS connections before their handshakes from more sources than "
                "the %d just logged (tls_handshakes_per_source, tls_handshakes); atoll_tls_"
                "handshakes_refused_total counts them, this is said again in %g s at most",
                REFUSALS_LOGGED,
                REFUSAL_LOG_EVERY,
            )
        elif limit == "per_source":
            log.warning(
                "refusing TLS connections from %s before their handshakes: %d in progress "
                "from there (tls_handshakes_per_source); atoll_tls_handshakes_refused_total "
                "counts them, this is said again in %g s at most",
                source,
                self.limits.per_source,
                REFUSAL_LOG_EVERY,
            )
        else:
            busiest = max(self._sources, key=self._sources.__getitem__)
            log.warning(
                "refusing TLS connections before their handshakes: %d in progress "
                "(tls_handshakes), the most from %s (%d); atoll_tls_handshakes_refused_total "
                "counts them, this is said again in %g s at most",
                self.in_progress,
                busiest,
                self._sources[busiest],
                REFUSAL_LOG_EVERY,
            )

    def collect(self) -> Iterator[Metric]:
        """The gate's series, for a prometheus-client registry."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        refused = CounterMetricFamily(
            "atoll_tls_handshakes_refused",
            "TLS connections closed before their handshake, by the bound they were over "
            "(per_source: tls_handshakes_per_source, total: tls_handshakes)",
            labels=["limit"],
        )
        for limit, count in self.refused.items():
            refused.add_metric([limit], count)
        yield refused
        yield CounterMetricFamily(
            "atoll_tls_handshake_timeouts",
            "TLS connections closed for not finishing their handshake in tls_handshake_timeout",
            value=self.timeouts,
        )
        yield GaugeMetricFamily(
            "atoll_tls_handshakes_in_progress", "TLS handshakes in progress", value=self.in_progress
        )


def tcp_site(
    runner: web.BaseRunner,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    gate: HandshakeGate,
) -> web.BaseSite:
    """Where a daemon serves ``runner``: aiohttp's own site for plain HTTP (loopback, tests),
    a :class:`TLSSite` whose handshakes ``gate`` bounds for HTTPS."""
    if ssl_context is None:
        return web.TCPSite(runner, host, port)
    return TLSSite(runner, host, port, ssl_context, gate)


class TLSSite(web.BaseSite):
    """An aiohttp site serving HTTPS, each handshake admitted by a :class:`HandshakeGate`.

    asyncio's TLS listener (``loop.create_server(ssl=...)``) starts a handshake on every
    connection it accepts, with no place to refuse one first, and waits 60 s for one that
    stalls. This site listens for plain TCP instead: an accepted connection the gate refuses
    is closed there and then; one it admits is upgraded with asyncio's public
    ``loop.start_tls`` (its timeout the limits'), then given to the runner's request handler
    as asyncio's listener would give it: the same kind of transport, so ``peercert``,
    ``ssl_object``, ``peername``, the ``https`` scheme and :func:`small_tls_reads` are as
    they were.
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        gate: HandshakeGate,
        *,
        backlog: int = 128,  # as aiohttp's TCPSite
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self.host, self.asked_port, self.backlog = host, port, backlog
        self.tls, self.gate = ssl_context, gate
        self._handshakes: set[asyncio.Task[None]] = set()
        self._listening: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one bound, once started: ``0`` asks for any)."""
        if self._listening is not None and self._listening.sockets:
            return int(self._listening.sockets[0].getsockname()[1])
        return self.asked_port

    @property
    def name(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = self._listening = await loop.create_server(
            lambda: _Accepted(self), self.host, self.asked_port, backlog=self.backlog
        )

    async def stop(self) -> None:
        handshakes = list(self._handshakes)
        for task in handshakes:
            task.cancel()  # its connection is closed (start_tls closes it when cancelled)
        await asyncio.gather(*handshakes, return_exceptions=True)
        await super().stop()

    def accepted(self, transport: asyncio.Transport) -> None:
        """A connection just accepted (nothing of it read yet): refused, or its handshake."""
        source = source_of(transport.get_extra_info("peername"))
        if not self.gate.admit(source):
            transport.abort()
            return
        transport.pause_reading()  # start_tls reads it, once its TLS layer is in place
        task = asyncio.get_running_loop().create_task(self._handshake(transport, source))
        self._handshakes.add(task)
        task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, transport: asyncio.Transport, source: str) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.gate.limits.timeout
        early = _Early()
        started = loop.time()
        try:
            tls = await loop.start_tls(
                transport, early, self.tls, server_side=True, ssl_handshake_timeout=timeout
            )
        except Exception:  # refused, broken or cut: start_tls closed the connection
            if loop.time() - started >= timeout:
                self.gate.timeouts += 1
            return
        finally:
            self.gate.release(source)
        server = self._runner.server
        if tls is None or server is None:  # closed as its handshake ended; or shutting down
            if tls is not None:
                tls.abort()
            return
        handler = server()
        tls.set_protocol(handler)
        handler.connection_made(tls)
        early.hand_over(handler)


class _Accepted(asyncio.Protocol):
    """A connection just accepted, before the gate has said whether it may go on."""

    __slots__ = ("site",)

    def __init__(self, site: TLSSite) -> None:
        self.site = site

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.site.accepted(cast(asyncio.Transport, transport))  # a TCP socket's


class _Early(asyncio.Protocol):
    """A TLS connection's protocol from the end of its handshake until the request handler
    takes it (the same turn of the loop, or the next): what arrives meanwhile, a client's
    first request sent with its last handshake message, is kept and handed over."""

    __slots__ = ("data", "eof")

    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.eof = False

    def data_received(self, data: bytes) -> None:
        self.data.append(data)

    def eof_received(self) -> None:
        self.eof = True

    def hand_over(self, handler: asyncio.Protocol) -> None:
        for data in self.data:
            handler.data_received(data)
        self.data.clear()
        if self.eof:
            handler.eof_received()
