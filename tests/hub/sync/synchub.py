"""A real hub over real TLS (client certificates from its CA) and a small site end that
speaks the sync frames with :mod:`atoll.sync.codec`, for the hub side's tests.

The site end is deliberately simple (no inbox, no outbox): it sends exactly the frames a
test tells it to and reads what comes back, so a test can also misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from atoll import certs, ids, tokens
from atoll.hub import bootstrap
from atoll.hub.app import build_app
from atoll.hub.catalog import images
from atoll.hub.settings import HubSettings
from atoll.hub.sites.registry import edit_site
from atoll.hub.store.base import Store
from atoll.hub.store.memory import MemoryStore
from atoll.hub.sync.server import SERVER
from atoll.hub.sync.session import Session
from atoll.jsonbody import JSON
from atoll.sync import codec, frames, versions

ADMIN_PASSWORD = "admin-password-for-sync-tests"
FAST = {
    "sync_heartbeat_interval": 0.2,
    "sync_dead_after": 1.5,
    "sync_window": 4,
}


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class SiteIdentity:
    name: str
    site_id: str
    cert: Path
    key: Path


@dataclass
class SyncHub:
    url: str
    store: Store
    app: web.Application
    data_dir: Path
    http: aiohttp.ClientSession
    ca_file: Path
    admin_token: str = ""
    sites: dict[str, SiteIdentity] = field(default_factory=dict)

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> Reply:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        async with self.http.request(
            method, self.url + path, json=body, headers=headers, ssl=self.client_ssl()
        ) as resp:
            data = await resp.json() if resp.content_type == "application/json" else None
            return Reply(resp.status, data)

    async def ok(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        reply = await self.call(method, path, body, token)
        assert 200 <= reply.status < 300, (method, path, reply)
        return reply.body

    def client_ssl(self, site: SiteIdentity | None = None) -> ssl.SSLContext:
        ctx = certs.client_ssl_context(self.ca_file)
        if site is not None:
            ctx.load_cert_chain(site.cert, site.key)
        return ctx

    async def add_site(self, name: str) -> SiteIdentity:
        """Register a site and give it a certificate, as the join flow will."""
        site = await self.ok("POST", "/v1/sites", {"name": name})
        layout = bootstrap.DataDir(self.data_dir)
        ca = certs.load_key_and_cert(layout.ca_key, layout.ca_cert)
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .sign(key, hashes.SHA256())
        )
        cert = certs.issue_site_cert(
            ca, csr.public_bytes(serialization.Encoding.PEM), site["id"], name
        )
        folder = self.data_dir.parent / f"site-{name}"
        folder.mkdir(exist_ok=True)
        identity = SiteIdentity(name, site["id"], folder / "site.pem", folder / "site.key")
        certs.write_pem(identity.cert, cert.public_bytes(serialization.Encoding.PEM))
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        certs.write_pem(identity.key, key_pem, private=True)
        serial = f"{cert.serial_number:x}"
        await edit_site(self.store, name, lambda v: {**v, "cert_serial": serial})
        self.sites[name] = identity
        return identity

    def session(self, site: SiteIdentity) -> Session:
        """The hub's session of ``site`` (to look at its window)."""
        return self.app[SERVER].sessions[site.site_id]

    async def connect(self, site: SiteIdentity) -> SiteEnd:
        ws = await self.http.ws_connect(self.url + "/v1/sync", ssl=self.client_ssl(site))
        return SiteEnd(ws, site)

    async def site_record(self, name: str) -> JSON:
        return (await self.store.get("site", name)).value

    async def active_image(self, name: str) -> str:
        """A catalog image with data (as an upload would leave it), public."""
        image_id = ids.hub_id()
        value = images.new_image(
            image_id,
            {"name": name, "disk_format": "qcow2", "visibility": "public"},
            None,
            None,
            "2030-01-01T00:00:00Z",
        )
        value.update(status="active", checksum_sha256="ab" * 32, size=1024)
        await self.store.put(images.KIND, image_id, value)
        return image_id


class SiteEnd:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, site: SiteIdentity) -> None:
        self.ws = ws
        self.site = site
        self.n = 0
        self.v = versions.CURRENT

    async def send(self, frame: frames.Frame) -> None:
        self.n += 1
        wire = codec.encode(dataclasses.replace(frame, v=self.v, n=self.n))
        await self.ws.send_bytes(wire)

    async def send_raw(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def recv(self, within: float = 10.0) -> frames.Frame:
        msg = await self.ws.receive(timeout=within)
        assert msg.type == aiohttp.WSMsgType.BINARY, (msg.type, msg.data)
        return codec.decode(msg.data)

    async def hello(
        self,
        applied_revision: int = 0,
        sent_seq: int = 0,
        site_id: str | None = None,
        speaks: tuple[int, ...] = versions.SPOKEN,
        capacity: frames.Capacity | JSON | None = None,
        history: str = "",
    ) -> frames.Frame:
        """Say hello as a site speaking ``speaks`` (an older site: ``(1,)``), reporting
        ``capacity`` if given (a map: figures a Capacity would not hold)."""
        self.v = max(speaks)
        await self.send(
            frames.Hello(
                v=self.v,
                versions=speaks,
                site_id=site_id or self.site.site_id,
                agent_version="test",
                model_version=1,
                applied_revision=applied_revision,
                sent_seq=sent_seq,
                capacity=capacity,
                history=history,
            )
        )
        return await self.recv()

    async def until(self, kind: type[frames.Frame], within: float = 10.0) -> Any:
        """The next frame of ``kind``, skipping others (pongs, progress)."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.recv(within)
                if isinstance(frame, kind):
                    return frame

    async def first_intent(self, within: float = 10.0) -> frames.Changes | frames.Snapshot:
        """The first ``changes`` or ``snapshot`` frame, skipping others."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.recv(within)
                if isinstance(frame, frames.Changes | frames.Snapshot):
                    return frame

    async def intent(self, want: int, within: float = 10.0) -> dict[str, frames.Change]:
        """Changes and snapshot items, acked as they come, until ``want`` objects are known;
        keyed ``<kind>/<id>`` (a delete leaves the key out)."""
        seen: dict[str, frames.Change] = {}
        async with asyncio.timeout(within):
            while len(seen) < want:
                frame = await self.recv(within)
                if isinstance(frame, frames.Changes | frames.Snapshot):
                    for item in frame.items:
                        key = f"{item.kind}/{item.id}"
                        if item.op == "put":
                            seen[key] = item
                        else:
                            seen.pop(key, None)
                    await self.send(frames.Ack(v=self.v, revision=frame.revision))
        return seen

    async def closed_with(self, within: float = 10.0) -> str:
        """The code of the error frame the hub closes with."""
        async with asyncio.timeout(within):
            while True:
                msg = await self.ws.receive()
                if msg.type == aiohttp.WSMsgType.BINARY:
                    frame = codec.decode(msg.data)
                    if isinstance(frame, frames.Error):
                        return frame.code
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.ERROR,
                ):
                    return "closed-without-error"

    async def close(self) -> None:
        await self.ws.close()


@asynccontextmanager
async def sync_hub(
    tmp: Path, store: Store | None = None, **overrides: Any
) -> AsyncIterator[SyncHub]:
    """A hub on ``tmp/hub`` (made on first use; a second hub on the same folder and store
    file is the first one restarted) over HTTPS asking for client certificates."""
    data_dir = tmp / "hub"
    if not data_dir.exists():
        await asyncio.to_thread(bootstrap.init, data_dir, ADMIN_PASSWORD, [])
    layout = bootstrap.DataDir(data_dir)
    store = store or MemoryStore()
    await bootstrap.seed_store(store, data_dir)
    settings = HubSettings(
        data_dir=data_dir,
        password_time_cost=1,
        password_memory_kib=8,
        password_parallelism=1,
        **{**FAST, **overrides},
    )
    app = build_app(settings, store, tokens.load_private_key(layout.token_key))
    runner = web.AppRunner(app)
    await runner.setup()
    ctx = certs.server_ssl_context(layout.server_cert, layout.server_key, client_ca=layout.ca_cert)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as http:
            hub = SyncHub(url, store, app, data_dir, http, layout.ca_cert)
            async with http.post(
                url + "/v1/auth/tokens",
                json={"user": "admin", "password": ADMIN_PASSWORD},
                ssl=hub.client_ssl(),
            ) as resp:
                hub.admin_token = (await resp.json())["token"]
            yield hub
    finally:
        await runner.cleanup()
        await store.close()
