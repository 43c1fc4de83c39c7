"""A throwaway CA made at test time, and VNF packages it signs: their manifest (SOL004
security option 1), the whole CSAR in a zip with its signature (option 2), or single
artifacts whose manifest entry names their signature (SOL004 5.3).

Nothing here is committed as a key: every CA and signer is made when a test asks for it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from tests.nfv.packages import PACKAGES

META = "TOSCA-Metadata/TOSCA.meta"
MANIFEST = "sample.mf"
HASHED = "Definitions/sample_vnfd_df_simple.yaml"  # the manifest line a tamper test changes


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()  # intermediates the CMS carries along

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()  # this CA's issuers up to the root, if any

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str = "Example VNF vendor", *, expired: bool = False) -> Signer:
        now = dt.datetime.now(dt.UTC)
        start, end = (now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired else (
            now - dt.timedelta(hours=1), now + dt.timedelta(days=30))  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _builder(_name(cn), self.cert.subject, key, start, end, ca=False).sign(
            self.key, hashes.SHA256()
        )
        below_root = (self.cert, *self.chain[:-1]) if self.chain else ()
        return Signer(key, cert, below_root)

    def intermediate(self, cn: str = "Example VNF vendor issuing CA") -> Authority:
        """A CA this one certifies (its signers' CMS carries it along)."""
        now = dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(_name(cn), self.cert.subject, key, now - dt.timedelta(hours=1),
                           now + dt.timedelta(days=90), ca=True)  # fmt: skip
        return Authority(key, builder.sign(self.key, hashes.SHA256()), (self.cert, *self.chain))

    def crl(
        self, *revoked: x509.Certificate, expired: bool = False, age: dt.timedelta | None = None
    ) -> bytes:
        """This CA's CRL (PEM) revoking ``revoked`` (key compromise), issued ``age`` ago (a
        minute by default), valid a week after that; ``expired``: its next update is past."""
        now = dt.datetime.now(dt.UTC)
        issued = now - (age or dt.timedelta(minutes=1))
        if expired:
            issued = now - dt.timedelta(days=9)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(issued)
            .next_update(issued + dt.timedelta(days=7))
        )
        for cert in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(issued)
                .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    start: dt.datetime,
    end: dt.datetime,
    *,
    ca: bool,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_usage(ca), critical=True)
    )


def new_authority(cn: str = "Test VNF package CA") -> Authority:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(_name(cn), _name(cn), key, now - dt.timedelta(days=1),
                       now + dt.timedelta(days=365), ca=True)  # fmt: skip
    return Authority(key, builder.sign(key, hashes.SHA256()))


def cms_block(
    content: bytes, signer: Signer, *, with_cert: bool = True, crl: bytes | None = None
) -> bytes:
    """A detached CMS signature of ``content``, PEM with SOL004's ``CMS`` label; ``crl``: a
    CRL (PEM) it carries."""
    options = [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    if not with_cert:
        options.append(pkcs7.PKCS7Options.NoCerts)
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(signer.cert, signer.key, hashes.SHA256())
    )
    for cert in signer.chain if with_cert else ():
        builder = builder.add_certificate(cert)
    der = builder.sign(serialization.Encoding.DER, options)
    if crl is not None:
        der = with_crl(der, crl)
    body = base64.encodebytes(der)
    return b"-----BEGIN CMS-----\n" + body + b"-----END CMS-----\n"


def with_crl(der: bytes, crl_pem: bytes) -> bytes:
    """The CMS ``der`` carrying ``crl_pem`` in its SignedData's ``crls [1]`` (what a signer
    may put there: OpenSSL consults those before the CRLs it is given)."""
    crl = x509.load_pem_x509_crl(crl_pem).public_bytes(serialization.Encoding.DER)
    info = _children(der)  # ContentInfo: contentType, [0] { SignedData }
    signed = _children(_children(info[1])[0])
    at = next(i for i, field in enumerate(signed) if field[0] == 0x31 and i > 2)  # signerInfos
    signed.insert(at, _der(0xA1, crl))
    return _der(0x30, info[0] + _der(0xA0, _der(0x30, b"".join(signed))))


def _children(element: bytes) -> list[bytes]:
    """The elements inside one DER element (definite lengths, one-byte tags)."""
    start, end = _header(element, 0)
    out = []
    while start < end:
        _, stop = _header(element, start)
        out.append(element[start:stop])
        start = stop
    return out


def _header(der: bytes, at: int) -> tuple[int, int]:
    first, at = der[at + 1], at + 2
    if first & 0x80:
        count = first & 0x7F
        first, at = int.from_bytes(der[at : at + count], "big"), at + count
    return at, at + first


def _der(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes((tag, size)) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + value


def manifest_text(files: dict[str, bytes], extra: Mapping[str, str] | None = None) -> bytes:
    """A SOL004 manifest listing the SHA-256 of each of ``files`` but TOSCA.meta, with
    ``extra`` lines (``Signature: ...``) in the entries of the files it names."""
    blocks = ["metadata:\nvnf_provider_id: Company\nvnf_product_name: Sample VNF\n"]
    for name in sorted(files):
        if name != META:
            digest = hashlib.sha256(files[name]).hexdigest()
            more = (extra or {}).get(name, "")
            blocks.append(f"Source: {name}\nAlgorithm: SHA-256\nHash: {digest}\n{more}")
    return "\n".join(blocks).encode()


def package_files() -> dict[str, bytes]:
    root = PACKAGES / "getting-started"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def signed_package(
    signer: Signer | None,
    *,
    tamper: bool = False,
    with_cert: bool = True,
    cert_file: str | None = None,
    crl: bytes | None = None,
) -> dict[str, bytes]:
    """getting-started with a manifest (``sample.mf``) signed by ``signer`` (None: unsigned).

    ``tamper``: the manifest's hash of one file changed after signing (the file changed to
    match, so only the signature can tell); ``with_cert``: the CMS carries the signer's
    certificate (and its chain); ``cert_file``: the package carries it at that path
    (``ETSI-Entry-Certificate`` names it, unless it is ``sample.cert``, found beside the
    manifest); ``crl``: a CRL the CMS carries."""
    files = package_files()
    meta = files[META] + f"ETSI-Entry-Manifest: {MANIFEST}\n".encode()
    if cert_file is not None and cert_file != "sample.cert":
        meta += f"ETSI-Entry-Certificate: {cert_file}\n".encode()
    files[META] = meta
    if cert_file is not None and signer is not None:
        files[cert_file] = signer.cert_pem()
    manifest = manifest_text(files)
    if signer is None:
        return {**files, MANIFEST: manifest}
    signature = cms_block(manifest, signer, with_cert=with_cert, crl=crl)
    if tamper:
        files[HASHED] = files[HASHED] + b"# planted after signing\n"
        manifest = manifest_text(files)
    return {**files, MANIFEST: manifest + signature}


def signature_at(files: dict[str, bytes]) -> str:
    """``sample.mf:N``: the line the manifest's signature starts on."""
    manifest = files[MANIFEST]
    line = manifest[: manifest.index(b"-----BEGIN CMS")].count(b"\n") + 1
    return f"{MANIFEST}:{line}"


def detached(content: bytes, signer: Signer, *, pem: bool = False, with_cert: bool = True) -> bytes:
    """A detached CMS signature of ``content``, as a file of its own: DER, or PEM."""
    block = cms_block(content, signer, with_cert=with_cert)
    return block if pem else base64.b64decode(b"".join(block.splitlines()[1:-1]))


def tampered(csar: bytes) -> bytes:
    """``csar`` with one byte changed that leaves it a readable CSAR: the modification time
    of its first entry (a local header's, which a zip reader does not check)."""
    assert csar[:4] == b"PK\x03\x04"
    return csar[:10] + bytes([csar[10] ^ 0x01]) + csar[11:]


def option2(
    csar: bytes,
    signer: Signer,
    *,
    name: str = "vnf",
    pem: bool = False,
    cert_file: bool = True,
    tamper: bool = False,
) -> dict[str, bytes]:
    """The entries of a zip delivering ``csar`` signed by ``signer`` (SOL004 security
    option 2): ``NAME.csar``, ``NAME.cms`` (DER, or ``pem``) and, with ``cert_file``, the
    signer's certificate ``NAME.cert`` (else the CMS carries it). ``tamper``: one byte of the
    CSAR changed after it was signed."""
    entries = {
        f"{name}.csar": tampered(csar) if tamper else csar,
        f"{name}.cms": detached(csar, signer, pem=pem, with_cert=not cert_file),
    }
    if cert_file:
        entries[f"{name}.cert"] = signer.cert_pem()
    return entries


ARTIFACT = "Files/scripts/install.sh"  # the signed artifact of artifact_package
ARTIFACT_DATA = b"#!/bin/sh\necho installing the sample VNF\n"
ARTIFACT_SIGNATURE = ARTIFACT + ".sig.cms"
ARTIFACT_CERTIFICATE = ARTIFACT + ".cert"


def artifact_package(
    signer: Signer,
    *,
    tamper: bool = False,
    cert_file: bool = True,
    pem: bool = False,
    data: bytes = ARTIFACT_DATA,
    manifest_signer: Signer | None = None,
    base: dict[str, bytes] | None = None,
) -> dict[str, bytes]:
    """getting-started with a signed artifact (SOL004 5.3): ``ARTIFACT`` (``data``), its
    detached signature by ``signer`` at ``ARTIFACT_SIGNATURE`` (DER, or ``pem``) and, with
    ``cert_file``, the signer's certificate at ``ARTIFACT_CERTIFICATE`` (else the CMS carries
    it), the manifest's entry naming them. ``tamper``: one byte of the artifact changed after
    it was signed, the manifest's hash of it changed to match (only the artifact's signature
    can tell); ``manifest_signer``: the manifest signed too (else it is not); ``base``: the
    package's files (getting-started's by default)."""
    files = dict(base) if base is not None else package_files()
    files[META] = files[META] + f"ETSI-Entry-Manifest: {MANIFEST}\n".encode()
    files[ARTIFACT] = data
    files[ARTIFACT_SIGNATURE] = detached(data, signer, pem=pem, with_cert=not cert_file)
    lines = f"Signature: {ARTIFACT_SIGNATURE}\n"
    if cert_file:
        files[ARTIFACT_CERTIFICATE] = signer.cert_pem()
        lines += f"Certificate: {ARTIFACT_CERTIFICATE}\n"
    if tamper:
        files[ARTIFACT] = data[:-2] + bytes([data[-2] ^ 0x01]) + data[-1:]
    manifest = manifest_text(files, {ARTIFACT: lines})
    if manifest_signer is not None:
        manifest += cms_block(manifest, manifest_signer)
    return {**files, MANIFEST: manifest}


def line_of(files: dict[str, bytes], text: bytes) -> str:
    """``sample.mf:N``: the manifest line ``text`` starts."""
    manifest = files[MANIFEST]
    line = manifest[: manifest.index(text)].count(b"\n") + 1
    return f"{MANIFEST}:{line}"
