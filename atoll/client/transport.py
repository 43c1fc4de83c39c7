"""How a request reaches a server: the seam under :class:`~atoll.client.core.Client`.

As in httpx, the client builds a :class:`Request` and hands it to a :class:`Transport`;
everything above (URLs, auth, token refresh, error decoding) is written once in the client.

- :class:`UrllibTransport`: the real one (HTTPS with the CA the client was given); request
  bodies may be bytes, a file object or an iterable of blocks (streamed); responses are
  read as streams.
- :class:`MemoryTransport`: answers from a function, for tests of the layers above (no
  socket, no server): ``MemoryTransport(lambda req: (200, {}, b'{"ok": true}'))``.

Every request Atoll sends says :data:`USER_AGENT`, the product alone: urllib's and aiohttp's
own (``Python-urllib/3.11``, ``Python/3.11 aiohttp/3.9.5``) told every server a tenant names
(LCM callbacks, OAuth token endpoints, alarm webhooks, package URIs) which Python and
aiohttp the hub runs, and so which of their advisories apply to it. The aiohttp side
(:func:`atoll.client.aio.new_session`) takes it from here.
"""

from __future__ import annotations

import io
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from multidict import CIMultiDict

from atoll.errors import ConfigError, TemporaryError

USER_AGENT = "atoll"  # the product, no version: what every request of ours says it is from


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | BinaryIO | Iterable[bytes] | None = None


class Response(Protocol):
    """A reply being read: status and headers now, the body as a stream."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Transport(Protocol):
    def send(self, request: Request, timeout: float) -> Response:
        """Send ``request``; any HTTP status is a Response, an unreachable server raises
        :class:`~atoll.errors.TemporaryError` (or ConfigError when TLS cannot verify)."""
        ...


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass
class _Reply:
    status: int
    headers: Mapping[str, str]
    stream: _Readable

    def read(self, size: int = -1, /) -> bytes:
        return self.stream.read(size)

    def close(self) -> None:
        self.stream.close()


class UrllibTransport:
    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        ca_hint: str = "pass --ca-file with the hub's ca.pem",
    ) -> None:
        self.ca_hint = ca_hint  # what to do when the server's certificate does not verify
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl_context))

    def send(self, request: Request, timeout: float) -> Response:
        headers = {"User-Agent": USER_AGENT, **dict(request.headers)}
        req = urllib.request.Request(  # noqa: S310 (the client checked the scheme)
            request.url, data=request.body, headers=headers, method=request.method
        )
        where = request.url.split("/", 3)[:3]
        origin = "/".join(where)
        try:
            resp = self._opener.open(req, timeout=timeout)
            return _Reply(resp.status, CIMultiDict(resp.headers.items()), resp)
        except urllib.error.HTTPError as exc:
            return _Reply(exc.code, CIMultiDict(exc.headers.items()), exc)
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                raise ConfigError(
                    f"cannot verify the certificate of {origin}: {self.ca_hint}"
                ) from exc
            raise TemporaryError(f"cannot reach {origin}: {reason}") from exc
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise TemporaryError(f"cannot reach {origin}: {exc}") from exc


Handler = Callable[[Request], tuple[int, Mapping[str, str], bytes]]


class MemoryTransport:
    """Answers every request with ``handler(request)``; keeps what was sent in ``sent``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent: list[Request] = []

    def send(self, request: Request, timeout: float) -> Response:
        body = request.body
        if body is not None and not isinstance(body, bytes):
            body = body.read() if hasattr(body, "read") else b"".join(body)
        request = Request(request.method, request.url, dict(request.headers), body)
        self.sent.append(request)
        status, headers, raw = self.handler(request)
        return _Reply(status, CIMultiDict(headers), io.BytesIO(raw))
