"""A site pulls chunks over HTTPS with its certificate; the hub authorizes by that identity."""

from __future__ import annotations

import ipaddress
import os
import ssl
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from atoll import certs
from atoll.errors import Forbidden, Unauthenticated
from atoll.images.chunks import ChunkStore
from atoll.images.errors import TransferError
from atoll.images.manifest import Ingest, IngestLimits, ingest_stream
from atoll.images.settings import ImageSettings
from atoll.images.transfer import ChunkFetcher
from tests.images.hub_server import hub_server

pytestmark = pytest.mark.integration


def _site_cert(ca: certs.KeyAndCert, name: str, tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    cert_pem = certs.sign_csr(ca, csr.public_bytes(serialization.Encoding.PEM))
    key_path, cert_path = tmp / f"{name}.key", tmp / f"{name}.pem"
    certs.write_pem(cert_path, cert_pem)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    certs.write_pem(key_path, key_pem, private=True)
    return cert_path, key_path


async def test_sites_fetch_with_their_certificate_and_only_what_they_may(tmp_path: Path) -> None:
    ca = certs.new_ca()
    ca_file = tmp_path / "ca.pem"
    certs.write_pem(ca_file, ca.cert_pem())
    server = certs.issue_server_cert(ca, "hub", ["localhost"], [ipaddress.ip_address("127.0.0.1")])
    certs.write_pem(tmp_path / "hub.pem", server.cert_pem())
    certs.write_pem(tmp_path / "hub.key", server.key_pem(), private=True)
    server_ctx = certs.server_ssl_context(tmp_path / "hub.pem", tmp_path / "hub.key")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_verify_locations(ca_file)

    async def by_site(request: web.Request, image_id: str, action: str) -> None:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        if not peer:
            raise Unauthenticated("a site certificate is needed")
        site = dict(x[0] for x in peer["subject"])["commonName"]
        if site != "edge-1":
            raise Forbidden(f"site {site} may not read image {image_id}")

    settings = ImageSettings(chunk_size=256 * 1024)
    data = os.urandom(5 * 256 * 1024)
    async with hub_server(tmp_path / "hub", settings, ssl_context=server_ctx,
                          authorize=by_site) as hub:  # fmt: skip
        m = await ingest_stream(Ingest(hub.store, IngestLimits(1 << 30, 100)), [data])
        hub.manifests.save("img", m)

        def site(name: str) -> ChunkFetcher:
            ctx = certs.client_ssl_context(ca_file)
            ctx.load_cert_chain(*_site_cert(ca, name, tmp_path))
            chunks = ChunkStore(tmp_path / name / "chunks", settings.chunk_size, fsync=False)
            return ChunkFetcher(hub.url, dest_dir=tmp_path / name, chunks=chunks,
                                ssl_context=ctx)  # fmt: skip

        result = await site("edge-1").fetch("img")
        assert result.path.read_bytes() == data
        with pytest.raises(Forbidden, match="site edge-2 may not read image img"):
            await site("edge-2").fetch("img")
        anonymous = ChunkFetcher(hub.url, dest_dir=tmp_path / "anon", retries=1,
                                 chunks=ChunkStore(tmp_path / "anon" / "c", fsync=False),
                                 ssl_context=certs.client_ssl_context(ca_file))  # fmt: skip
        with pytest.raises(TransferError, match="cannot get the manifest"):
            await anonymous.fetch("img")  # no certificate: the TLS handshake fails
