"""Sync protocol costs: resync bytes, anti-entropy round trips and bytes, heartbeat uplink.

- ``sync_resync_bytes_1000_changes``: the bytes on the wire to bring a site up to date
  after 1,000 changed servers: the ``changes`` frames down (up to ``MAX_ITEMS`` changes each)
  and the ``ack`` frames up, each with its websocket header (client frames masked) and its
  TLS 1.3 records (5 header + 1 type + 16 tag bytes per 16 KiB), against the bare msgpack
  of the 1,000 desired objects (goal <= 1.5x). ``..._one_per_frame`` is the same with one
  change per frame (the live feed's worst case).
- ``sync_digest_round_trips_1_of_100000``: round trips for a digest check to find one
  drifted object among 100,000 (goal <= 3), against 1: sending every (key, revision) at
  once. ``sync_digest_bytes_1_of_100000`` and ``..._identical_100000``: the digest frames'
  bytes both ways, against that full listing's bytes.
- ``sync_heartbeat_uplink``: what a site sends per heartbeat interval (10 s) while idle, in
  kbit/s: a ``ping`` frame, its websocket framing and TLS records, counted by a byte-counting
  TCP relay between a real aiohttp websocket client and server (mutual TLS, ECDSA P-256,
  TLS 1.3) on loopback; against KubeEdge's 0.25 kbit/s per node (goal <= 0.25).
  ``..._with_tcp_ip`` adds the IPv4+TCP headers (20 + 20 + 12 bytes of timestamps) of the
  two segments a heartbeat costs uplink (the ping, the ACK of the pong).
"""

from __future__ import annotations

import asyncio
import math
import random
import ssl
import statistics
import tempfile
from pathlib import Path

import aiohttp
import msgpack
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from atoll import certs
from atoll.resources import Desired, Meta, NicSpec, ServerSpec
from atoll.sync import codec, digest, frames
from bench.report import emit, median_of

RUNS = 5
CHANGES = 1000
ITEMS = 100_000
HEARTBEAT = 10.0  # seconds: the welcome's default heartbeat_interval
PINGS = 30
TLS_RECORD = 16_384
TLS_OVERHEAD = 5 + 1 + 16  # TLS 1.3 record header, inner content type, AEAD tag
TCP_IP_HEADERS = 20 + 20 + 12  # IPv4, TCP, TCP timestamps option


def server(rng: random.Random, revision: int) -> Desired:
    object_id = f"{rng.getrandbits(128):032x}"
    return Desired(
        kind="server",
        meta=Meta(
            id=object_id,
            name=f"vnf-{rng.randrange(10**6)}",
            project_id=f"{rng.getrandbits(128):032x}",
            labels={"app": "upf", "tier": "edge"},
        ),
        spec=ServerSpec(
            flavor="m1.small",
            image=f"{rng.getrandbits(128):032x}",
            nics=(NicSpec(network=f"{rng.getrandbits(128):032x}"),),
            ssh_keys=(f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{rng.getrandbits(160):040x} noc",),
        ),
        origin="hub",
        hub_revision=revision,
    )


def ws_bytes(payload: int, *, masked: bool) -> int:
    """One websocket message of ``payload`` bytes in TLS records."""
    header = 2 + (2 if 126 <= payload < 65_536 else 8 if payload >= 65_536 else 0)
    framed = payload + header + (4 if masked else 0)
    return framed + math.ceil(framed / TLS_RECORD) * TLS_OVERHEAD


def resync(per_frame: int, seed: int) -> tuple[float, float]:
    """(wire bytes, bare msgpack bytes) of CHANGES changed servers."""
    rng = random.Random(seed)
    objects = [server(rng, 1000 + i) for i in range(CHANGES)]
    bare = sum(len(msgpack.packb(o.to_wire(), use_bin_type=True)) for o in objects)
    wire = 0
    for n, start in enumerate(range(0, CHANGES, per_frame), 1):
        chunk = objects[start : start + per_frame]
        items = tuple(
            frames.Change(
                revision=revision, op="put", kind="server", id=o.meta.id, object=o.to_wire()
            )
            for revision, o in ((o.hub_revision or 0, o) for o in chunk)
        )
        revision = items[-1].revision
        down = codec.encode(frames.Changes(v=2, n=n, revision=revision, items=items))
        up = codec.encode(frames.Ack(v=2, n=n, revision=revision))
        wire += ws_bytes(len(down), masked=False) + ws_bytes(len(up), masked=True)
    return wire, bare


def resync_figures() -> None:
    for per_frame, name in ((frames.MAX_ITEMS, ""), (1, "_one_per_frame")):
        runs = [resync(per_frame, seed) for seed in range(RUNS)]
        wire = statistics.median(w for w, _ in runs)
        bare = statistics.median(b for _, b in runs)
        emit(f"sync_resync_bytes_{CHANGES}_changes{name}", wire, "bytes", bare)


def check(hub: digest.Items, site: digest.Items) -> tuple[int, int, int]:
    """(round trips, bytes both ways, differences) of one digest check, through the codec."""
    rec = digest.Reconciler(hub)
    outgoing = rec.start()
    trips = size = 0
    while outgoing:
        trips += 1
        replies = []
        for n, ranges in enumerate(outgoing, 1):
            request = codec.encode(frames.Digest(v=2, n=n, round=rec.round, ranges=ranges))
            asked = codec.decode(request)
            assert isinstance(asked, frames.Digest)
            answer = digest.respond(site, asked.ranges)
            reply = codec.encode(frames.Digest(v=2, n=n, round=asked.round, reply=True,
                                               ranges=answer))  # fmt: skip
            size += len(request) + len(reply)
            decoded = codec.decode(reply)
            assert isinstance(decoded, frames.Digest)
            replies.append(decoded)
        outgoing = [ranges for reply in replies for ranges in rec.read(reply)]
    return trips, size, len(rec.differences)


def digest_figures() -> None:
    trips, sizes, clean, listing = [], [], [], []
    for seed in range(RUNS):
        rng = random.Random(seed)
        pairs = [(f"server/{rng.getrandbits(128):032x}", rng.randrange(1, 10**7))
                 for _ in range(ITEMS)]  # fmt: skip
        drifted = list(pairs)
        key, revision = drifted[rng.randrange(ITEMS)]
        drifted[drifted.index((key, revision))] = (key, revision - 1)
        hub, site = digest.Items(pairs), digest.Items(drifted)
        t, size, found = check(hub, site)
        assert found == 1
        trips.append(t)
        sizes.append(size)
        clean.append(check(hub, hub)[1])
        listing.append(len(msgpack.packb([[k, r] for k, r in sorted(pairs)])))
    plain = statistics.median(listing)
    emit(f"sync_digest_round_trips_1_of_{ITEMS}", statistics.median(trips), "round trips", 1)
    emit(f"sync_digest_bytes_1_of_{ITEMS}", statistics.median(sizes), "bytes", plain)
    emit(f"sync_digest_bytes_identical_{ITEMS}", statistics.median(clean), "bytes", plain)


class Counter:
    """A TCP relay that counts the bytes the client sends."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.uplink = 0
        self.relays: set[asyncio.Task[object]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.relays.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            try:
                while data := await src.read(65_536):
                    if count:
                        self.uplink += len(data)
                    dst.write(data)
                    await dst.drain()
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False),
                             return_exceptions=True)  # fmt: skip


def tls_contexts(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = certs.new_ca()
    hub = certs.issue_server_cert(ca, "hub", ["localhost"], [])
    site_key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "site")]))
        .sign(site_key, hashes.SHA256())
    )
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    site = certs.KeyAndCert(site_key, certs.issue_site_cert(ca, csr_pem, "a" * 32, "site-1"))
    for name, pair in (("hub", hub), ("site", site)):
        certs.write_pem(tmp / f"{name}.pem", pair.cert_pem())
        certs.write_pem(tmp / f"{name}.key", pair.key_pem(), private=True)
    certs.write_pem(tmp / "ca.pem", ca.cert_pem())
    server = certs.server_ssl_context(tmp / "hub.pem", tmp / "hub.key", client_ca=tmp / "ca.pem")
    client = certs.client_ssl_context(tmp / "ca.pem")
    client.load_cert_chain(tmp / "site.pem", tmp / "site.key")
    return server, client


async def heartbeat_bytes(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> float:
    """Uplink bytes per heartbeat on one idle mTLS websocket."""

    async def sync(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False, compress=False)
        await ws.prepare(request)
        n = 0
        async for message in ws:
            frame = codec.decode(message.data)
            if isinstance(frame, frames.Ping):
                n += 1
                await ws.send_bytes(codec.encode(frames.Pong(v=2, n=n)))
        return ws

    app = web.Application()
    app.router.add_get("/v1/sync", sync)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    counter = Counter(port)
    relay = await asyncio.start_server(counter.serve, "127.0.0.1", 0)
    relay_port = relay.sockets[0].getsockname()[1]
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                f"https://localhost:{relay_port}/v1/sync",
                ssl=client_ctx,
                autoping=False,
                compress=0,
                server_hostname="localhost",
            ) as ws,  # fmt: skip
        ):
            await asyncio.sleep(0.2)  # the handshake and session tickets settle
            before = counter.uplink
            for n in range(1, PINGS + 1):
                await ws.send_bytes(codec.encode(frames.Ping(v=2, n=n)))
                pong = await ws.receive()
                assert isinstance(codec.decode(pong.data), frames.Pong)
            await asyncio.sleep(0.1)
            sent = counter.uplink - before
    finally:
        relay.close()
        await runner.cleanup()
        await asyncio.wait(counter.relays, timeout=5)  # both ends closed: the relay drains
    return sent / PINGS


def heartbeat_figures() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-sync-") as tmp:
        server_ctx, client_ctx = tls_contexts(Path(tmp))
        per_ping = median_of(RUNS, lambda: asyncio.run(heartbeat_bytes(server_ctx, client_ctx)))
    kbit = per_ping * 8 / HEARTBEAT / 1000
    emit("sync_heartbeat_uplink", kbit, "kbit/s", 0.25)
    with_headers = (per_ping + 2 * TCP_IP_HEADERS) * 8 / HEARTBEAT / 1000
    emit("sync_heartbeat_uplink_with_tcp_ip", with_headers, "kbit/s", 0.25)


def main() -> None:
    resync_figures()
    digest_figures()
    heartbeat_figures()


if __name__ == "__main__":
    main()
