"""TLS handshakes bounded before any TLS work (``atoll.listening.HandshakeGate``, served by
``TLSSite``): the gate's counting and its logging, and the listener in-process, where a
client certificate, the peer's address and a request sent with the handshake's last message
reach the handler as through asyncio's own listener. ``tests/security/test_tls_handshakes.py``
attacks the running daemons."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import selectors
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atoll import certs, listening
from atoll.errors import ConfigError
from atoll.testbed.services.ports import free_port


def test_sources_are_ipv4_addresses_and_ipv6_slash_64s() -> None:
    assert listening.source_of(("192.0.2.7", 443)) == "192.0.2.7"
    assert listening.source_of(("2001:db8:1:2:aaaa::1", 443, 0, 0)) == "2001:db8:1:2::/64"
    assert listening.source_of(("2001:db8:1:2:ffff::9", 443, 0, 0)) == "2001:db8:1:2::/64"
    assert listening.source_of(("2001:db8:1:3::1", 443, 0, 0)) == "2001:db8:1:3::/64"
    assert listening.source_of(("::ffff:192.0.2.7", 443, 0, 0)) == "192.0.2.7"  # dual stack
    assert listening.source_of(("fe80::1%eth0", 443, 0, 2)) == "fe80::/64"
    assert listening.source_of(None) == listening.source_of(()) == "unknown"


def test_a_handshake_timeout_of_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="tls_handshake_timeout"):
        listening.HandshakeLimits(timeout=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_gate_bounds_each_source_and_the_total(caplog: pytest.LogCaptureFixture) -> None:
    gate = listening.HandshakeGate(listening.HandshakeLimits(per_source=2, total=3), Clock())
    with caplog.at_level(logging.WARNING):
        assert gate.admit("a") and gate.admit("a")
        assert not gate.admit("a")  # its third at once
        assert gate.admit("b")
        assert not gate.admit("c")  # three in progress: nobody else
        gate.release("a")
        assert gate.admit("c")  # room again
    assert gate.refused == {"per_source": 1, "total": 1} and gate.in_progress == 3
    for source in ("a", "b", "c"):
        gate.release(source)
    assert gate.in_progress == 0
    assert gate.admit("a") and gate.admit("a")  # its count went back to nothing
    text = caplog.text
    assert "from a before their handshakes: 2 in progress" in text
    assert "3 in progress (tls_handshakes), the most from a (2)" in text


def test_refusals_are_logged_once_a_minute_a_source(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    gate = listening.HandshakeGate(listening.HandshakeLimits(per_source=1, total=0), clock)
    gate.admit("a")
    gate.admit("b")
    with caplog.at_level(logging.WARNING):
        for _ in range(1000):
            gate.admit("a")
            gate.admit("b")
            clock.now += 0.05  # 50 s in all
        assert caplog.text.count("from a before") == 1 and caplog.text.count("from b ") == 1
        clock.now += 10.5  # a minute after the first line
        gate.admit("a")
        assert caplog.text.count("from a before") == 2
    assert gate.refused["per_source"] == 2001


def test_refusals_from_many_sources_are_one_line_past_a_few(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = listening.HandshakeGate(listening.HandshakeLimits(per_source=1, total=0), Clock())
    sources = [f"198.51.100.{i}" for i in range(200)]
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            for source in sources:
                gate.admit(source)
    lines = caplog.text.splitlines()
    assert len(lines) == listening.REFUSALS_LOGGED + 1, len(lines)
    assert "from more sources than the 64 just logged" in lines[-1]


@dataclass
class Served:
    port: int
    ca_file: Path
    client_cert: Path
    client_key: Path
    site: listening.TLSSite
    seen: list[dict[str, object]]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """An aiohttp app behind a TLSSite (mTLS optional, as the hub's), handshakes limited to
    2 a source, 4 in all, 1 s each; every request's view of its connection is recorded."""
    ca = certs.new_ca()
    leaf = certs.issue_server_cert(ca, "s", ["localhost"], [ipaddress.ip_address("127.0.0.1")])
    files = {n: tmp_path / f"{n}.pem" for n in ("ca", "cert", "key", "client", "client-key")}
    certs.write_pem(files["ca"], ca.cert_pem())
    certs.write_pem(files["cert"], leaf.cert_pem())
    certs.write_pem(files["key"], leaf.key_pem(), private=True)
    key = ec.generate_private_key(ec.SECP256R1())
    certs.write_pem(files["client"], certs.sign_csr(ca, certs.new_csr(key, "edge-1")))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certs.write_pem(files["client-key"], key_pem, private=True)
    seen: list[dict[str, object]] = []

    async def who(request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        peercert = transport.get_extra_info("peercert") or {}
        subject = dict(pair[0] for pair in peercert.get("subject", ()))
        seen.append(
            {
                "cn": subject.get("commonName"),
                "peer": transport.get_extra_info("peername")[0],
                "scheme": request.scheme,
                "body": await request.text(),
            }
        )
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/who", who)
    runner = web.AppRunner(app)
    await runner.setup()
    context = certs.server_ssl_context(files["cert"], files["key"], client_ca=files["ca"])
    gate = listening.HandshakeGate(listening.HandshakeLimits(per_source=2, total=4, timeout=1.0))
    port = free_port()
    site = listening.tcp_site(runner, "127.0.0.1", port, context, gate)
    assert isinstance(site, listening.TLSSite)
    await site.start()
    try:
        yield Served(port, files["ca"], files["client"], files["client-key"], site, seen)
    finally:
        await runner.cleanup()


def client_context(served: Served, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(served.ca_file))
    if with_cert:
        context.load_cert_chain(served.client_cert, served.client_key)
    return context


def request(served: Served, source: str, with_cert: bool = False, body: bytes = b"") -> bytes:
    """One request from ``source``, sent in one packet with the handshake's last message (as
    clients often do: the listener must keep it for the handler); the answer."""
    head = (
        f"POST /who HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    context = client_context(served, with_cert)
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    answer = b""
    address = ("127.0.0.1", served.port)
    with socket.create_connection(address, 5, source_address=(source, 0)) as sock:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("closed in the handshake") from None
                incoming.write(data)
        tls.write(head + body)
        sock.sendall(outgoing.read())  # the client's Finished, then the request
        while data := sock.recv(65536):
            incoming.write(data)
            try:
                while chunk := tls.read(65536):
                    answer += chunk
                break  # b"": the server's close_notify
            except ssl.SSLWantReadError:
                continue
    return answer


def stalled(served: Served, source: str, count: int) -> list[socket.socket]:
    return [
        socket.create_connection(("127.0.0.1", served.port), 5, source_address=(source, 0))
        for _ in range(count)
    ]


def closed_within(socks: list[socket.socket], seconds: float) -> list[socket.socket]:
    """Those of ``socks`` the server closed within ``seconds``, having sent nothing on them
    (``tests/security/test_tls_handshakes.py`` asks the running daemons too)."""
    closed: list[socket.socket] = []
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while len(closed) < len(socks) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                try:
                    said = ready.recv(1)
                except ConnectionError:
                    said = b""
                assert said == b"", said
                selector.unregister(ready)
                closed.append(ready)
    return closed


async def test_the_handler_sees_the_client_certificate_address_and_early_request(
    served: Served,
) -> None:
    body = b"x" * 3000
    answers = await asyncio.gather(
        asyncio.to_thread(request, served, "127.0.0.1", True, body),
        asyncio.to_thread(request, served, "127.0.0.2"),
    )
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers), answers
    by_peer = {str(s["peer"]): s for s in served.seen}
    assert by_peer["127.0.0.1"] == {
        "cn": "edge-1", "peer": "127.0.0.1", "scheme": "https", "body": body.decode()
    }  # fmt: skip
    assert by_peer["127.0.0.2"]["cn"] is None
    assert served.site.gate.in_progress == 0


async def test_over_the_bounds_connections_close_at_once_and_stalled_ones_time_out(
    served: Served,
) -> None:
    gate = served.site.gate
    opened = time.monotonic()  # the first held handshake's start: none times out before +1 s
    first = await asyncio.to_thread(stalled, served, "127.0.0.1", 5)
    refused = await asyncio.to_thread(closed_within, first, 0.5)
    assert len(refused) == 3  # per source: 2
    others = await asyncio.to_thread(stalled, served, "127.0.0.2", 2)
    last_opened = time.monotonic()  # the last held one's: it times out 1 s after, or later
    more = await asyncio.to_thread(stalled, served, "127.0.0.3", 1)
    refused += await asyncio.to_thread(closed_within, others + more, 0.3)
    assert len(refused) == 4  # in all: 4
    assert gate.in_progress == 4 and gate.refused == {"per_source": 3, "total": 1}
    held = [s for s in first + others + more if s not in refused]
    timed_out = await asyncio.to_thread(closed_within, held, 3.0)
    done = time.monotonic()
    assert len(timed_out) == 4
    assert done - last_opened > 0.9 and done - opened < 3.5  # (timeout 1 s; slack for a busy CI)
    await asyncio.sleep(0.05)
    assert gate.in_progress == 0 and gate.timeouts == 4
    answer = await asyncio.to_thread(request, served, "127.0.0.1")
    assert answer.startswith(b"HTTP/1.1 200"), answer  # room again
    for sock in first + others + more:
        sock.close()


async def test_stopping_closes_the_handshakes_in_progress(served: Served) -> None:
    held = await asyncio.to_thread(stalled, served, "127.0.0.1", 2)
    await asyncio.sleep(0.1)
    assert served.site.gate.in_progress == 2
    await served.site.stop()
    assert len(await asyncio.to_thread(closed_within, held, 0.5)) == 2
    assert served.site.gate.in_progress == 0
    for sock in held:
        sock.close()
