"""What a VNF package's signature is checked against: the trust anchors (the CAs a signer
must chain to) and, optionally, the CRLs that revoke certificates of such chains.

Each is a PEM file an operator names (the hub's ``[hub] vnf_package_trust_anchors`` and
``vnf_package_crls``, or ``atoll vnf package validate --trust-anchors/--crls``), held as an
:class:`atoll.watched_file.WatchedFile`: read again when it changes, so anchors rotated or a
CRL published take effect at the next package checked, and refusing while it cannot be read
or parsed (:class:`atoll.watched_file.FileUnusable`), never falling back to what it held.

What is handed to OpenSSL is written again from what was parsed (certificates, CRLs), never
the file's bytes: anything else the file holds (a comment, a key put there by mistake) is
not passed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from atoll.watched_file import WatchedFile

_CRL = re.compile(rb"-----BEGIN X509 CRL-----\r?\n.*?-----END X509 CRL-----", re.DOTALL)


@dataclass(frozen=True)
class TrustAnchors:
    """The CA certificates a signer must chain to (PEM), and their subjects."""

    pem: bytes
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class Crls:
    """Certificate revocation lists (PEM), and each parsed."""

    pem: bytes
    crls: tuple[x509.CertificateRevocationList, ...]


@dataclass(frozen=True)
class Trust:
    """A signature's trust anchors, and the CRLs its chain is checked against (None: none)."""

    anchors: WatchedFile[TrustAnchors]
    crls: WatchedFile[Crls] | None = None


def parse_anchors(raw: bytes) -> TrustAnchors:
    """A bundle of PEM certificates; ``ValueError`` saying what it lacks."""
    try:
        certificates = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise ValueError(f"is not a bundle of PEM certificates ({exc})") from exc
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in certificates)
    return TrustAnchors(pem, tuple(c.subject.rfc4514_string() for c in certificates))


def parse_crls(raw: bytes) -> Crls:
    """One or more PEM CRLs (``-----BEGIN X509 CRL-----``); ``ValueError`` saying what is
    wrong (none there, one that does not parse)."""
    blocks = _CRL.findall(raw)
    if not blocks:
        raise ValueError("holds no PEM CRL (-----BEGIN X509 CRL-----)")
    crls = []
    for number, block in enumerate(blocks, 1):
        try:
            crls.append(x509.load_pem_x509_crl(block))
        except ValueError as exc:
            what = f"holds a CRL that does not parse (the {_nth(number)}: {exc})"
            raise ValueError(what) from exc
    return Crls(b"".join(c.public_bytes(Encoding.PEM) for c in crls), tuple(crls))


def _nth(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10)
    return f"{number}{suffix or 'th'}"


def trust_files(
    anchors: Path, crls: Path | None, *, anchors_setting: str, crls_setting: str
) -> Trust:
    """The trust a check reads from ``anchors`` (and ``crls``), each read once now:
    :class:`atoll.watched_file.FileUnusable` (a ConfigError) if one is not usable, so a
    process given a wrong file stops at its start, not at its first package."""
    trust = Trust(
        WatchedFile(anchors_setting, anchors, parse_anchors),
        None if crls is None else WatchedFile(crls_setting, crls, parse_crls),
    )
    trust.anchors.current()
    if trust.crls is not None:
        trust.crls.current()
    return trust
