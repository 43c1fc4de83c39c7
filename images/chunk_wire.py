"""Chunk bodies off the event loop: blocking keep-alive connections, one worker thread each.

A site's pull spends its CPU per byte: TLS decryption, the chunk's sha256, the write into
the image. Through aiohttp the decryption runs on the event loop in ~16 KiB records, each a
fresh ``bytes`` handed to the hashing thread block by block, and the two threads fight for
the GIL at every block. Here each chunk is received by one worker thread on its own
connection straight into a buffer one chunk long (OpenSSL decrypts with the GIL released),
then hashed and written by that same thread (with ``O_DIRECT`` where it can: see
:mod:`atoll.images.direct_io`): the cores work on different chunks at once and
no Python runs per block. Measured on the 2-core bench machine (256 MiB through a hub
process): the site's CPU per pull fell from ~1.0 to ~0.8 CPU-s, the pull from ~245 to
~300 MB/s.

:class:`ChunkWire` holds the connections of one fetch (``concurrency`` of them, each with its
buffer) and their threads; :meth:`ChunkWire.get` is the one request it makes. The manifest
and every other request still go through the one async client core.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from atoll import error_body
from atoll.client.core import decode_body
from atoll.errors import AtollError, ConfigError
from atoll.images import direct_io
from atoll.images.errors import LinkFailed

# a blocking take from the bandwidth cap: a worker thread calls it before each read
Throttle = Callable[[int], None]
THROTTLED_READ = 256 * 1024  # bytes read between two takes from the cap
# a failure of these kinds on the wire is the link's (TimeoutError, a reset and
# ssl.SSLError are OSErrors): ChunkWire.get raises it as LinkFailed
_LINK_FAILURES = (OSError, http.client.HTTPException)


@dataclass(frozen=True)
class Received:
    """What :meth:`ChunkWire.get` brought: ``body`` (a view of the connection's buffer,
    valid until the connection's next request) or, when the reply was not ``length`` bytes
    long, ``body`` None and ``size`` the bytes that arrived (or were announced)."""

    body: memoryview | None
    size: int


class Connection:
    """One keep-alive connection to the hub and its chunk buffer; used by one thread at a
    time."""

    def __init__(self, conn: http.client.HTTPConnection, buffer_size: int) -> None:
        self.conn = conn
        # page-aligned: the assembly may write it with O_DIRECT
        self.buffer = direct_io.aligned_buffer(buffer_size)
        self.used = False  # has served a request: the hub may have closed it since

    def interrupt(self) -> None:
        """Stop a read under way (from another thread): the connection is not reused."""
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.conn.close()
        self.used = False


class ChunkWire:
    """The connections and threads of one fetch from ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | bool | None,
        headers: Mapping[str, str],
        timeout: float,
        concurrency: int,
        buffer_size: int,
    ) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"cannot fetch chunks from {base_url!r}: not an http(s) URL")
        self._host, self._port = url.hostname, url.port
        self._prefix = url.path.rstrip("/")
        self._context = _context(ssl_context) if url.scheme == "https" else None
        self._headers = dict(headers)
        self._timeout = timeout
        self._buffer_size = buffer_size
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self.threads = ThreadPoolExecutor(concurrency, thread_name_prefix="chunk-wire")

    def take(self) -> Connection:
        """An idle connection, or a new one (it connects at its first request)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn: http.client.HTTPConnection
        if self._context is not None:
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._timeout, context=self._context
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return Connection(conn, self._buffer_size)

    def give_back(self, conn: Connection) -> None:
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        """Close every connection; the threads end once their work is done."""
        self.threads.shutdown(wait=False)
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def get(
        self, conn: Connection, path: str, length: int, what: str, throttle: Throttle | None
    ) -> Received:
        """``GET path`` for a body of ``length`` bytes, read into ``conn``'s buffer (blocking:
        on a worker thread). A failure of the link raises LinkFailed and closes the
        connection; an error answer raises what it stands for (one a retry can help as
        LinkFailed). The caller gives the connection back once done with the
        body (a closed one connects again at its next request)."""
        try:
            resp = self._request(conn, self._prefix + path)
            if resp.status >= 300:
                raise _error(resp, what)
            received = self._body(conn, resp, length, throttle)
        except _LINK_FAILURES as exc:
            conn.close()
            raise LinkFailed(f"{what}: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        if received.body is None:
            conn.close()  # what is left of a reply of the wrong length is not read
        return received

    def _request(self, conn: Connection, path: str) -> http.client.HTTPResponse:
        reused = conn.used
        conn.used = True
        try:
            conn.conn.request("GET", path, headers=self._headers)
            return conn.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
        conn.close()  # the hub closed the idle connection: once more on a fresh one
        conn.used = True
        conn.conn.request("GET", path, headers=self._headers)
        return conn.conn.getresponse()

    def _body(
        self,
        conn: Connection,
        resp: http.client.HTTPResponse,
        length: int,
        throttle: Throttle | None,
    ) -> Received:
        announced = resp.getheader("Content-Length")
        if len(conn.buffer) < length:
            conn.buffer = direct_io.aligned_buffer(length)
        view = memoryview(conn.buffer)[:length]
        if announced is None:  # no length said (chunked encoding): what comes, one byte more
            data = resp.read(length + 1)
            if len(data) != length:
                return Received(None, len(data))
            view[:] = data
            return Received(view, length)
        said = announced.isascii() and announced.isdigit()  # "²".isdigit(), yet int() refuses
        if not said or int(announced) != length:
            return Received(None, int(announced) if said else 0)
        got = 0
        while got < length:
            step = length - got if throttle is None else min(THROTTLED_READ, length - got)
            if throttle is not None:
                throttle(step)
            n = resp.readinto(view[got : got + step])
            if not n:
                raise http.client.IncompleteRead(b"", length - got)
            got += n
        return Received(view, got)


def _context(ssl_context: ssl.SSLContext | bool | None) -> ssl.SSLContext:
    if isinstance(ssl_context, ssl.SSLContext):
        return ssl_context
    if ssl_context is False:  # as aiohttp's ssl=False: no verification
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context()


def _error(resp: http.client.HTTPResponse, what: str) -> AtollError:
    """A failed reply as the error it stands for (decoded by the one error body); one a
    retry can help (5xx, 429) as LinkFailed."""
    data = decode_body(resp.read(1 << 20))
    exc = error_body.decode(resp.status, data, resp.getheader("Retry-After"))
    if exc.retryable:
        return LinkFailed(f"the hub answered {resp.status} for {what}: {exc}")
    return exc
