"""A small hub end of sync for the site side's tests: an aiohttp websocket server over TLS.

A test CA signs the server certificate (127.0.0.1) and the site's client certificate (SAN
``urn:atoll:site:<id>``); the site's files are written where ``HubLink.load`` reads them.
The server requires a client certificate of that CA on ``/v1/sync``, reads ``hello``,
answers ``welcome`` with ``acked_seq`` (the newest fact seq it recorded), then records
``facts`` (by seq: a redelivery is counted once), acks them while ``ack_facts`` is set,
answers pings, and sends what the test asks for (:meth:`SyncHub.send`, :meth:`send_raw`);
:meth:`drop` cuts the current connection. It speaks the frames through atoll.sync.codec.
The real hub end is the hubsync lane's; this one only plays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from atoll import certs, ids
from atoll.sync import codec
from atoll.sync.frames import Ack, Digest, Error, Fact, Facts, Frame, Hello, Ping, Pong, Welcome


@dataclass
class SyncHub:
    url: str
    site_id: str
    ack_facts: bool = True
    window: int = 8
    heartbeat_interval: float = 10.0
    dead_after: float = 40.0
    reconnect_spread: float = 0.1  # what the welcome asks (a test hub: reconnect at once)
    history: str = ""  # the welcome's history id of the hub's store ("": an older hub)
    hellos: list[Hello] = field(default_factory=list)
    facts: dict[int, Fact] = field(default_factory=dict)  # recorded, by seq
    received: int = 0  # fact items received, redeliveries included
    acked_revisions: list[int] = field(default_factory=list)
    errors: list[Error] = field(default_factory=list)
    digests: list[Digest] = field(default_factory=list)  # the site's digest replies
    pings: int = 0
    acked_seq: int = 0
    _ws: web.WebSocketResponse | None = None
    _n: int = 0
    _version: int = 1
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # -- what tests do -------------------------------------------------------------------
    async def send(self, cls: type[Frame], **fields: Any) -> None:
        ws = await self.connection()
        self._n += 1
        await ws.send_bytes(codec.encode(cls(v=self._version, n=self._n, **fields)))

    async def send_raw(self, data: bytes) -> None:
        ws = await self.connection()
        await ws.send_bytes(data)

    async def drop(self) -> None:
        """Cut the current connection (the site reconnects)."""
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    async def connection(self) -> web.WebSocketResponse:
        await self.until(lambda: self._ws is not None)
        assert self._ws is not None
        return self._ws

    async def until(self, check: Callable[[], bool]) -> None:
        """Wait until ``check()`` holds (the test's timeout bounds the wait)."""
        while not check():
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.05)

    def of_type(self, kind: str) -> list[Fact]:
        return [f for _, f in sorted(self.facts.items()) if f.type == kind]

    # -- the server ----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        peer = transport.get_extra_info("ssl_object") if transport else None
        der = peer.getpeercert(binary_form=True) if peer else None
        if not der or certs.site_id_of(x509.load_der_x509_certificate(der)) != self.site_id:
            raise web.HTTPForbidden(text="a site certificate is required")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=codec.DEFAULT_MAX_FRAME)
        await ws.prepare(request)
        hello = codec.decode((await ws.receive()).data)
        assert isinstance(hello, Hello)
        self.hellos.append(hello)
        self._n, self._version = 1, max(hello.versions)
        welcome = Welcome(
            v=self._version, n=1, session=ids.hub_id(), hub_revision=0,
            acked_seq=self.acked_seq, heartbeat_interval=self.heartbeat_interval,
            dead_after=self.dead_after, window=self.window,
            reconnect_spread=self.reconnect_spread, history=self.history,
        )  # fmt: skip
        await ws.send_bytes(codec.encode(welcome))
        self._ws = ws
        self._changed.set()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await self._on(codec.decode(msg.data))
                self._changed.set()
        finally:
            if self._ws is ws:
                self._ws = None
            self._changed.set()
        return ws

    async def _on(self, frame: Frame) -> None:
        if isinstance(frame, Facts):
            for fact in frame.items:
                self.received += 1
                if fact.seq > self.acked_seq:
                    self.facts.setdefault(fact.seq, fact)
            if self.ack_facts and frame.items:
                await self.ack_all()
        elif isinstance(frame, Ack) and frame.revision is not None:
            self.acked_revisions.append(frame.revision)
        elif isinstance(frame, Ping):
            self.pings += 1
            await self.send(Pong)
        elif isinstance(frame, Error):
            self.errors.append(frame)
        elif isinstance(frame, Digest):
            self.digests.append(frame)

    async def ack_all(self) -> None:
        """Ack every fact recorded so far."""
        if self.facts:
            self.acked_seq = max(self.acked_seq, max(self.facts))
        await self.send(Ack, seq=self.acked_seq)


def _csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whatever")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def write_site_files(
    data_dir: Path, ca: certs.KeyAndCert, url: str, site_id: str, name: str = "edge-1"
) -> None:
    """What a join leaves under ``<data dir>/hub/`` (sync/PROTOCOL.md)."""
    folder = data_dir / "hub"
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certs.issue_site_cert(ca, _csr(key), site_id, name)
    certs.write_pem(folder / "ca.pem", ca.cert_pem())
    certs.write_pem(folder / "site.key", certs.KeyAndCert(key, cert).key_pem(), private=True)
    certs.write_pem(folder / "site.pem", cert.public_bytes(serialization.Encoding.PEM))
    link = {"hub_url": url, "site_id": site_id, "site_name": name, "joined_at": 0}
    (folder / "link.json").write_text(json.dumps(link))


@asynccontextmanager
async def sync_hub(tmp: Path, site_data_dir: Path) -> AsyncIterator[SyncHub]:
    """A hub end on loopback and the site's link files pointing at it."""
    ca = certs.new_ca("test hub CA")
    server = certs.issue_server_cert(ca, "hub", [], [ipaddress.IPv4Address("127.0.0.1")], days=2)
    folder = tmp / "hub-tls"
    certs.write_pem(folder / "ca.pem", ca.cert_pem())
    certs.write_pem(folder / "server.pem", server.cert_pem())
    certs.write_pem(folder / "server.key", server.key_pem(), private=True)
    ssl_context: ssl.SSLContext = certs.server_ssl_context(
        folder / "server.pem", folder / "server.key", client_ca=folder / "ca.pem"
    )
    hub = SyncHub(url="", site_id=ids.hub_id())
    app = web.Application()
    app.router.add_get("/v1/sync", hub.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    hub.url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    write_site_files(site_data_dir, ca, hub.url, hub.site_id)
    try:
        yield hub
    finally:
        await hub.drop()
        await runner.cleanup()
