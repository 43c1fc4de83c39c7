"""X.509 primitives: the hub's certificate authority, server certificates, TLS contexts.

The hub creates a CA at ``atoll hub init`` (its certificate at ``<data-dir>/ca.pem``, so
clients and sites can trust the hub) and issues itself a server certificate from it. Site
agents will present certificates the hub signs from their CSRs (:func:`sign_csr`). Keys are
ECDSA P-256, the curve every TLS stack speaks. Private keys are written mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from atoll.errors import ConfigError, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class KeyAndCert:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Atoll"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_ca(common_name: str = "Atoll hub CA", days: int = 3650) -> KeyAndCert:
    """A fresh self-signed CA that may sign leaf certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyAndCert(key, cert)


def _sans(dns_names: list[str], ips: list[IPAddress]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    general += [x509.IPAddress(ip) for ip in ips]
    return x509.SubjectAlternativeName(general)


def _leaf(
    ca: KeyAndCert,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    sans: x509.SubjectAlternativeName | None,
    usage: list[x509.ObjectIdentifier],
    days: int,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if sans is not None:
        builder = builder.add_extension(sans, critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def issue_server_cert(
    ca: KeyAndCert,
    common_name: str,
    dns_names: list[str],
    ips: list[IPAddress],
    days: int = 825,
) -> KeyAndCert:
    """A TLS server certificate for the given names and addresses, signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _leaf(
        ca,
        _name(common_name),
        key.public_key(),
        _sans(dns_names, ips),
        [ExtendedKeyUsageOID.SERVER_AUTH],
        days,
    )
    return KeyAndCert(key, cert)


def read_csr(
    csr_pem: bytes,
) -> tuple[x509.CertificateSigningRequest, ec.EllipticCurvePublicKey]:
    """A CSR and its key, or InvalidInput: PEM, a valid self-signature, an ECDSA key."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise InvalidInput("the certificate signing request is not a PEM CSR") from exc
    if not csr.is_signature_valid:
        raise InvalidInput("the certificate signing request's signature is not valid")
    public_key = csr.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise InvalidInput("the certificate signing request must carry an ECDSA key")
    return csr, public_key


def new_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    """A CSR (PEM) for ``key``; the hub writes the certificate's names itself."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(common_name))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def key_pin(key: CertificatePublicKeyTypes) -> str:
    """``sha256:<hex>`` of a public key's SubjectPublicKeyInfo (what :func:`ca_pin` gives
    for a certificate's key; a site's zeroconf advert carries its key's)."""
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(spki)
    return "sha256:" + digest.finalize().hex()


def sign_csr(ca: KeyAndCert, csr_pem: bytes, days: int = 825) -> bytes:
    """Sign a client CSR (a site agent's) for mutual TLS; returns the certificate PEM."""
    csr, public_key = read_csr(csr_pem)
    cert = _leaf(ca, csr.subject, public_key, None, [ExtendedKeyUsageOID.CLIENT_AUTH], days)
    return cert.public_bytes(serialization.Encoding.PEM)


SITE_URI_PREFIX = "urn:atoll:site:"


def issue_site_cert(
    ca: KeyAndCert, csr_pem: bytes, site_id: str, site_name: str, days: int = 90
) -> x509.Certificate:
    """A site's client certificate from its CSR: the hub writes the subject (CN = the site's
    name) and the SAN URI ``urn:atoll:site:<site id>`` itself, whatever the CSR asked for;
    the CSR only proves the site holds the key."""
    _, public_key = read_csr(csr_pem)
    sans = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SITE_URI_PREFIX + site_id)])
    return _leaf(ca, _name(site_name), public_key, sans, [ExtendedKeyUsageOID.CLIENT_AUTH], days)


def site_id_of(cert: x509.Certificate) -> str | None:
    """The site id in a site certificate's SAN URI, or None if it has none."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(SITE_URI_PREFIX):
            return uri[len(SITE_URI_PREFIX) :]
    return None


def ca_pin(cert: x509.Certificate) -> str:
    """``sha256:<hex>`` of the certificate's SubjectPublicKeyInfo (kubeadm's CA cert hash):
    a reissued CA with the same key keeps its pin."""
    return key_pin(cert.public_key())


def write_pem(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write a PEM file; private keys are created mode 0600 (never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def load_key_and_cert(key_path: Path, cert_path: Path) -> KeyAndCert:
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load {key_path} and {cert_path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{key_path} does not hold an ECDSA private key")
    return KeyAndCert(key, cert)


def server_ssl_context(
    cert_path: Path, key_path: Path, client_ca: Path | None = None
) -> ssl.SSLContext:
    """A TLS server context; with ``client_ca``, clients *may* present a certificate signed by
    it (people and CLIs connect without one; site agents present theirs, see
    :func:`site_id_of`), and one that does not verify is refused in the handshake."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_path, key_path)
        if client_ca is not None:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate {cert_path}: {exc}") from exc
    return ctx


def client_ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """Verify the server against ``ca_file`` (the hub's ca.pem) or the system trust store."""
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load CA file {ca_file}: {exc}") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx
