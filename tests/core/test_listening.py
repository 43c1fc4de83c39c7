"""Plain HTTP only on loopback, or off it when told ``insecure`` (then warned); TLS when given,
read into a small buffer until a bulk body needs asyncio's full one."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
import resource
from asyncio import sslproto
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from atoll import certs, listening
from atoll.errors import ConfigError
from atoll.testbed.services.ports import free_port

ANY = "0.0.0.0"  # noqa: S104 (the setting under test)


def test_loopback_hosts() -> None:
    for host in ("127.0.0.1", "127.3.2.1", "::1", "localhost"):
        assert listening.is_loopback(host), host
    for host in (ANY, "::", "10.0.0.1", "example.net", ""):
        assert not listening.is_loopback(host), host


def test_plain_http_off_loopback_needs_insecure(caplog: pytest.LogCaptureFixture) -> None:
    assert listening.server_tls("127.0.0.1", None, None, insecure=False, fix="do X") is None
    with pytest.raises(ConfigError, match=r"plain HTTP on 0\.0\.0\.0.*do X"):
        listening.server_tls(ANY, None, None, insecure=False, fix="do X")
    with caplog.at_level(logging.WARNING):
        assert listening.server_tls(ANY, None, None, insecure=True, fix="do X") is None
    assert "plain HTTP on 0.0.0.0" in caplog.text


def test_cert_and_key_give_a_context_anywhere(tmp_path: Path) -> None:
    ca = certs.new_ca()
    leaf = certs.issue_server_cert(ca, "s", ["localhost"], [ipaddress.ip_address("127.0.0.1")])
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    certs.write_pem(cert, leaf.cert_pem())
    certs.write_pem(key, leaf.key_pem(), private=True)
    assert listening.server_tls(ANY, cert, key, insecure=False, fix="") is not None
    with pytest.raises(ConfigError, match="tls_key_file"):
        listening.server_tls(ANY, cert, None, insecure=True, fix="")
    with pytest.raises(ConfigError, match="cannot load TLS certificate"):
        listening.server_tls(ANY, key, cert, insecure=False, fix="")


@pytest.mark.parametrize("listener", ["gated", "asyncio"])
async def test_tls_reads_start_small_grow_for_bulk_bodies_and_shrink_again(
    tmp_path: Path, listener: str
) -> None:
    """An idle or chatty TLS connection holds a small receive buffer; the first read that fills
    it (a bulk upload) gives the connection asyncio's full one, and the body arrives whole;
    small reads in a row give it back. So through the daemons' listener (``gated``,
    :func:`listening.tcp_site`) as through asyncio's own."""
    ca = certs.new_ca()
    leaf = certs.issue_server_cert(ca, "s", ["localhost"], [ipaddress.ip_address("127.0.0.1")])
    cert, key, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    certs.write_pem(cert, leaf.cert_pem())
    certs.write_pem(key, leaf.key_pem(), private=True)
    certs.write_pem(ca_file, ca.cert_pem())
    buffers: list[int] = []

    def buffer_of(request: web.Request) -> int:
        return len(request.transport._ssl_protocol._ssl_buffer)  # type: ignore[union-attr]

    async def small(request: web.Request) -> web.Response:
        buffers.append(buffer_of(request))
        return web.json_response({"ok": True})

    async def bulk(request: web.Request) -> web.Response:
        digest = hashlib.sha256(await request.read()).hexdigest()
        buffers.append(buffer_of(request))
        return web.json_response({"sha256": digest})

    app = web.Application(client_max_size=64 << 20)
    app.router.add_get("/small", small)
    app.router.add_put("/bulk", bulk)
    runner = web.AppRunner(app)
    await runner.setup()
    listening.small_tls_reads(runner)
    port, context = free_port(), certs.server_ssl_context(cert, key)
    site = (
        listening.tcp_site(runner, "127.0.0.1", port, context, listening.HandshakeGate())
        if listener == "gated"
        else web.TCPSite(runner, "127.0.0.1", port, ssl_context=context)
    )
    await site.start()
    body = os.urandom(16 << 20)
    try:
        tls = certs.client_ssl_context(ca_file)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
            for _ in range(3):  # one keep-alive connection, small requests
                async with http.get(f"https://127.0.0.1:{port}/small") as reply:
                    assert reply.status == 200
            async with http.put(f"https://127.0.0.1:{port}/bulk", data=body) as reply:
                assert (await reply.json())["sha256"] == hashlib.sha256(body).hexdigest()
            for _ in range(listening.QUIET_READS + 1):
                async with http.get(f"https://127.0.0.1:{port}/small") as reply:
                    assert reply.status == 200
    finally:
        await runner.cleanup()
    little, full = listening.SMALL_TLS_READ, sslproto.SSLProtocol.max_size
    assert full > little
    assert buffers[:3] == [little] * 3, buffers  # the Python we ship has it
    assert buffers[3] == full, buffers
    assert buffers[4] == full and buffers[-1] == little, buffers


def test_shrinking_leaves_other_transports_alone() -> None:
    assert not listening.shrink_tls_reads(asyncio.Transport())


def test_the_open_files_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))
        now = listening.open_files_limit()
        assert now == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert now == hard or hard == resource.RLIM_INFINITY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
