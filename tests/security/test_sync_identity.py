"""Who may open ``GET /v1/sync`` on a running hub: only a site, by its current certificate.

An attacker without a certificate, with a user's bearer token, with a certificate from
another CA, or with one the hub CA signed for a site that no longer holds it (or for no site
at all) gets no session: 401 before the websocket upgrade, or no TLS handshake at all.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from atoll import certs, ids
from tests.security.daemons import RunningHub


def _csr(name: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM)


def _client(hub: RunningHub, tmp: Path, key: ec.EllipticCurvePrivateKey,
            cert: x509.Certificate) -> ssl.SSLContext:  # fmt: skip
    key_file, cert_file = tmp / "client.key", tmp / "client.pem"
    certs.write_pem(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    certs.write_pem(key_file, key_pem, private=True)
    ctx = certs.client_ssl_context(hub.ca_file)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


async def _open(hub: RunningHub, ctx: ssl.SSLContext, token: str | None = None) -> int:
    """The status the upgrade is refused with (0: it was accepted)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        try:
            ws = await http.ws_connect(f"{hub.url}/v1/sync", ssl=ctx, headers=headers)
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status
        await ws.close()
        return 0


async def test_no_certificate_no_session_even_with_an_admin_token(hub: RunningHub) -> None:
    ctx = certs.client_ssl_context(hub.ca_file)
    assert await _open(hub, ctx) == 401
    assert await _open(hub, ctx, token=hub.token) == 401


async def test_a_certificate_from_another_ca_gets_no_handshake(
    hub: RunningHub, tmp_path: Path
) -> None:
    site = hub.ok("POST", "/v1/sites", {"name": "sync-rogue-ca"})
    rogue = certs.new_ca("Not the hub CA")
    key, csr = _csr("sync-rogue-ca")
    cert = certs.issue_site_cert(rogue, csr, site["id"], "sync-rogue-ca")
    with pytest.raises(aiohttp.ClientError):
        await _open(hub, _client(hub, tmp_path, key, cert))


async def test_hub_signed_certificates_the_site_does_not_hold_are_refused(
    hub: RunningHub, tmp_path: Path
) -> None:
    """Signed by the hub CA (as a stolen or superseded certificate would be), but not the
    site's current one, or for a site that does not exist, or not a site certificate."""
    ca = certs.load_key_and_cert(hub.data_dir / "ca-key.pem", hub.data_dir / "ca.pem")
    site = hub.ok("POST", "/v1/sites", {"name": "sync-replaced"})
    key, csr = _csr("sync-replaced")
    replaced = certs.issue_site_cert(ca, csr, site["id"], "sync-replaced")  # not its serial
    assert await _open(hub, _client(hub, tmp_path, key, replaced)) == 401
    nowhere = certs.issue_site_cert(ca, csr, ids.hub_id(), "sync-nowhere")
    assert await _open(hub, _client(hub, tmp_path, key, nowhere)) == 401
    not_a_site = x509.load_pem_x509_certificate(certs.sign_csr(ca, csr))
    assert await _open(hub, _client(hub, tmp_path, key, not_a_site)) == 401
