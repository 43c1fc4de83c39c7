"""The CA and server certificates work for real TLS between a client and a server."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from pathlib import Path

import pytest

from atoll import certs
from atoll.errors import InvalidInput


def _write(tmp: Path, kc: certs.KeyAndCert, name: str) -> tuple[Path, Path]:
    certs.write_pem(tmp / f"{name}.pem", kc.cert_pem())
    certs.write_pem(tmp / f"{name}-key.pem", kc.key_pem(), private=True)
    return tmp / f"{name}.pem", tmp / f"{name}-key.pem"


async def test_tls_handshake_verifies_against_the_ca(tmp_path: Path) -> None:
    ca = certs.new_ca()
    server = certs.issue_server_cert(ca, "hub", ["localhost"], [ipaddress.ip_address("127.0.0.1")])
    cert, key = _write(tmp_path, server, "hub")
    ca_file, _ = _write(tmp_path, ca, "ca")
    assert (tmp_path / "hub-key.pem").stat().st_mode & 0o777 == 0o600

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    srv = await asyncio.start_server(
        answer, "127.0.0.1", 0, ssl=certs.server_ssl_context(cert, key)
    )
    port = srv.sockets[0].getsockname()[1]
    try:
        for host in ("127.0.0.1", "localhost"):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=certs.client_ssl_context(ca_file)
            )
            assert await reader.read() == b"hello"
            writer.close()
        other_ca, _ = _write(tmp_path, certs.new_ca("other"), "other")
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("127.0.0.1", port, ssl=certs.client_ssl_context(other_ca))
    finally:
        srv.close()
        await srv.wait_closed()


def test_sign_csr_gives_a_client_cert_from_the_ca() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca = certs.new_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "site-1")]))
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = certs.sign_csr(ca, csr.public_bytes(Encoding.PEM))
    cert = x509.load_pem_x509_certificate(pem)
    assert cert.issuer == ca.cert.subject
    cert.verify_directly_issued_by(ca.cert)
    with pytest.raises(InvalidInput):
        certs.sign_csr(ca, b"not a csr")
