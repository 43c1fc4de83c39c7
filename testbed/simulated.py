"""Simulated sites: many lightweight sites in one process, each joined through the real join
API and holding a real sync session (mTLS websocket, the real frames), to measure the hub.

A simulated site has no store, reconciler or drivers: it joins (a join token from the
hub's API, its own key and CSR, ``POST /v1/sync/join``), opens ``/v1/sync`` with its site
certificate, says hello, acknowledges every ``changes``/``snapshot`` frame it is sent (it
keeps only the revision), answers anti-entropy digests from what it was sent, and pings every
heartbeat interval, as a real agent does. That is what the hub sees of a site, at the cost of
a few kilobytes of Python and one TLS connection each, so one process holds thousands.

``atoll.testbed.simulated.Fleet`` is what the scale benchmark (``bench/bench_sync_scale.py``)
and the testbed use.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from atoll import __version__, certs, listening
from atoll.client.aio import AsyncClient, new_session
from atoll.resources import versions as model_versions
from atoll.sync import codec, digest, frames, versions

log = logging.getLogger(__name__)


@dataclass
class SimulatedSite:
    name: str
    site_id: str = ""
    cert_file: Path = Path()
    key_file: Path = Path()
    applied_revision: int = 0
    keys: dict[str, int] = field(default_factory=dict)  # what the hub placed: key -> revision
    connected: bool = False
    frames_in: int = 0
    sessions: int = 0


class Fleet:
    """``count`` simulated sites of one hub; :meth:`join` then :meth:`run` until stopped."""

    def __init__(self, hub_url: str, ca_file: Path, admin_token: str, prefix: str = "sim") -> None:
        self.hub_url = hub_url.rstrip("/")
        self.ca_file = ca_file
        self.admin_token = admin_token
        self.prefix = prefix
        self.sites: list[SimulatedSite] = []
        listening.open_files_limit()  # a session per site, in this one process
        self._dir = Path(tempfile.mkdtemp(prefix="atoll-sim-"))
        self._stop = asyncio.Event()

    async def join(self, count: int, concurrency: int = 16) -> None:
        """Join ``count`` new sites through the hub's API (a join token and a CSR each)."""
        start = len(self.sites)
        names = [f"{self.prefix}-{i:05d}" for i in range(start, start + count)]
        gate = asyncio.Semaphore(concurrency)
        context = certs.client_ssl_context(self.ca_file)
        admin = AsyncClient(self.hub_url, self.admin_token, context, connections=concurrency)

        async def one(name: str) -> SimulatedSite:
            async with gate:
                return await self._join_one(admin, name)

        try:
            self.sites += await asyncio.gather(*(one(n) for n in names))
        finally:
            await admin.close()

    async def _join_one(self, admin: AsyncClient, name: str) -> SimulatedSite:
        issued = await admin.request("POST", "/v1/join_tokens", {"site": name, "ttl": 3600})
        token = issued["token"]
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .sign(key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        body = {"token": token, "csr": csr.decode(), "agent_version": __version__,
                "fingerprint": "sha256:" + hashlib.sha256(public).hexdigest()}  # fmt: skip
        joined = await admin.request("POST", "/v1/sync/join", body, auth=False)
        site = SimulatedSite(name, site_id=str(joined["site_id"]))
        site.cert_file, site.key_file = self._dir / f"{name}.pem", self._dir / f"{name}.key"
        certs.write_pem(site.cert_file, str(joined["certificate"]).encode())
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
        certs.write_pem(site.key_file, key_pem, private=True)
        return site

    async def run(self, handshakes: int = 32) -> None:
        """Hold every site's session (reconnecting as a real agent does) until :meth:`stop`;
        at most ``handshakes`` TLS handshakes at once."""
        gate = asyncio.Semaphore(handshakes)
        connector = aiohttp.TCPConnector(limit=0)
        async with new_session(connector=connector) as http:
            tasks = [asyncio.create_task(self._hold(http, s, gate)) for s in self.sites]
            await self._stop.wait()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Remove the sites' keys and certificates (after :meth:`run` has returned)."""
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def connected(self) -> int:
        return sum(s.connected for s in self.sites)

    async def _hold(self, http: aiohttp.ClientSession, site: SimulatedSite,
                    gate: asyncio.Semaphore) -> None:  # fmt: skip
        context = certs.client_ssl_context(self.ca_file)
        context.load_cert_chain(site.cert_file, site.key_file)
        retry = 1.0
        while not self._stop.is_set():
            try:
                await self._session(http, site, context, gate)
                retry = 1.0
            except (aiohttp.ClientError, OSError, TimeoutError, codec.FrameError) as exc:
                log.debug("%s: %s", site.name, exc)
            site.connected = False
            await asyncio.sleep(retry)
            retry = min(retry * 2, 30.0)

    async def _session(self, http: aiohttp.ClientSession, site: SimulatedSite,
                       context: ssl.SSLContext, gate: asyncio.Semaphore) -> None:  # fmt: skip
        async with gate:
            ws = await http.ws_connect(
                f"{self.hub_url}/v1/sync", ssl=context, compress=0, autoping=False,
                max_msg_size=codec.DEFAULT_MAX_FRAME,
            )  # fmt: skip
        async with ws:
            n = 1
            hello = frames.Hello(
                v=versions.CURRENT, n=n, versions=versions.SPOKEN, site_id=site.site_id,
                agent_version=__version__, model_version=model_versions.CURRENT,
                applied_revision=site.applied_revision,
            )  # fmt: skip
            await ws.send_bytes(codec.encode(hello))
            welcome = codec.decode((await ws.receive(timeout=60)).data)
            if not isinstance(welcome, frames.Welcome):
                raise codec.FrameError("bad_frame", f"expected a welcome, got {welcome.TYPE}")
            site.connected, site.sessions = True, site.sessions + 1
            version = welcome.v

            async def ping() -> None:
                nonlocal n
                while True:
                    await asyncio.sleep(welcome.heartbeat_interval)
                    n += 1
                    await ws.send_bytes(codec.encode(frames.Ping(v=version, n=n)))

            pinger = asyncio.create_task(ping())
            try:
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.BINARY:
                        break
                    site.frames_in += 1
                    reply = self._answer(site, codec.decode(message.data), version)
                    if reply is not None:
                        n += 1
                        await ws.send_bytes(codec.encode(reply(n)))
            finally:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinger

    @staticmethod
    def _answer(site: SimulatedSite, frame: frames.Frame, version: int):  # type: ignore[no-untyped-def]
        """What a site answers to ``frame`` (a function of its frame number), if anything."""
        if isinstance(frame, (frames.Changes, frames.Snapshot)):
            if isinstance(frame, frames.Snapshot) and frame.revision == 0:
                site.keys.clear()
            for change in frame.items:
                key = f"{change.kind}/{change.id}"
                if change.op == "delete":
                    site.keys.pop(key, None)
                else:
                    site.keys[key] = change.revision
            if isinstance(frame, frames.Snapshot) and not frame.last:
                return None

            site.applied_revision = max(site.applied_revision, frame.revision)
            revision = site.applied_revision
            return lambda n: frames.Ack(v=version, n=n, revision=revision)
        if isinstance(frame, frames.Digest) and not frame.reply:
            items = digest.Items(sorted(site.keys.items()))
            ranges = digest.respond(items, frame.ranges)
            return lambda n: frames.Digest(v=version, n=n, round=frame.round, reply=True,
                                           ranges=tuple(ranges))  # fmt: skip
        if isinstance(frame, frames.Console):  # it runs nothing: no server has a console
            request, why = frame.request, "a simulated site runs no servers"
            return lambda n: frames.ConsoleReply(v=version, n=n, request=request,
                                                 error="not_found", message=why)  # fmt: skip
        return None


def main() -> None:
    """``python -m atoll.testbed.simulated --hub URL --ca-file F --count N``: join N
    simulated sites and hold them until SIGTERM (the admin's password from
    ``ATOLL_TESTBED_ADMIN_PASSWORD``, never on the command line)."""
    import argparse
    import os
    import signal

    parser = argparse.ArgumentParser(description="simulated sites for a hub")
    parser.add_argument("--hub", required=True)
    parser.add_argument("--ca-file", type=Path, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--prefix", default="sim")
    parser.add_argument("--testbed", default="", help="the testbed's directory (to find us)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    async def run() -> None:
        context = certs.client_ssl_context(args.ca_file)
        login = AsyncClient(args.hub, "", context)
        try:
            body = {"user": "admin", "password": os.environ["ATOLL_TESTBED_ADMIN_PASSWORD"]}
            issued = await login.request("POST", "/v1/auth/tokens", body, auth=False)
        finally:
            await login.close()
        fleet = Fleet(args.hub, args.ca_file, str(issued["token"]), args.prefix)
        await fleet.join(args.count)
        log.info("%d simulated sites joined", args.count)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, fleet.stop)
        try:
            await fleet.run()
        finally:
            fleet.close()

    asyncio.run(run())


if __name__ == "__main__":
    main()
