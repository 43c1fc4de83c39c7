"""SOL004 package security, option 1: the manifest signed with CMS, and where its certificate is.

SOL004 (clause 5, "VNF package security"; option 1): the manifest lists a digest of every
file of the package, and the VNF provider signs the manifest. The signature is a CMS
(RFC 5652) SignedData of the manifest's content, PEM-encoded and appended to the manifest
itself, between ``-----BEGIN CMS-----`` and ``-----END CMS-----`` lines (``PKCS7`` is
taken as a label too: ``openssl smime`` and the ``cryptography`` library write that one);
it covers the manifest without the signature: every byte before the ``-----BEGIN CMS-----``
line. The signer's certificate (and any intermediate one) is inside the CMS, or in the file
TOSCA.meta's ``ETSI-Entry-Certificate`` names, or, without that entry, in a file beside the
manifest with its name and the ``.cert`` extension (``vnf.mf`` -> ``vnf.cert``).

This module only finds those pieces, purely (:func:`signed_manifest`); checking a signature
against trust anchors is work with side effects, done by the :class:`SignatureCheck` the
caller gives ``load_package`` (:mod:`atoll.nfv.signature_check`'s, which the hub and
``atoll vnf package validate`` both give), which also decides what a package without a
signature gets.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Protocol

from atoll.nfv.csar import PackageFiles, read_logged
from atoll.nfv.errors import ProblemLog
from atoll.nfv.manifest import ToscaMeta

LABELS = ("CMS", "PKCS7")  # PEM labels taken for the manifest's signature
CERTIFICATE_MAX_BYTES = 1024 * 1024
_BEGIN = re.compile(rb"^[ \t]*-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?$", re.MULTILINE)


@dataclass(frozen=True)
class SignedManifest:
    """A manifest's signature, what it covers, and the certificate file the package carries
    for it (``certificate``, its package path, with ``certificate_data``), if any."""

    manifest: str
    content: bytes  # the manifest before its signature: what the signature covers
    cms: bytes  # the CMS SignedData, DER (the PEM block's base64, decoded)
    where: str  # the ``-----BEGIN CMS-----`` line: ``vnf.mf:14``
    certificate: str | None = None
    certificate_data: bytes | None = None


@dataclass(frozen=True)
class VerifiedSignature:
    """A manifest signature that verified: who signed (the signer certificate's subject, as
    RFC 4514 writes it), who issued that certificate, and until when it is valid.
    ``chain_verified`` False: only the signature was checked, with the key of the
    certificate it names, not that certificate's chain (``atoll vnf package validate``
    without ``--trust-anchors``; the hub always verifies the chain)."""

    manifest: str
    signer: str
    issuer: str
    not_after: str
    chain_verified: bool = True


class SignatureCheck(Protocol):
    """Checks a package's manifest signature against trust anchors, or decides what an
    unsigned package gets (``signed`` None; ``manifest``, the manifest's path, None when the
    package has none); each problem goes to ``log`` (an error refuses the package)."""

    def __call__(
        self, manifest: str | None, signed: SignedManifest | None, log: ProblemLog
    ) -> VerifiedSignature | None: ...


def split_signature(path: str, raw: bytes, log: ProblemLog) -> tuple[bytes, bytes, str] | None:
    """``(content, CMS DER, where)`` of a manifest's appended signature; None when it has
    none (a ``-----BEGIN X-----`` block of another kind is a warning then) or when the
    signature is malformed (an error naming the line)."""
    begin = _BEGIN.search(raw)
    if begin is None:
        return None
    where = f"{path}:{_line_of(raw, begin.start())}"
    label = begin.group(1).decode("ascii")
    if label not in LABELS:
        log.warn(
            where,
            f"a -----BEGIN {label}----- block is not a CMS signature (SOL004 appends one as "
            "-----BEGIN CMS-----): the manifest is taken as unsigned",
        )
        return None
    end_line = re.compile(rb"^[ \t]*-----END " + label.encode() + rb"-----[ \t]*\r?$", re.M)
    end = end_line.search(raw, begin.end())
    if end is None:
        log.error(where, f"the CMS signature has no -----END {label}----- line")
        return None
    if raw[end.end() :].strip():
        log.error(
            f"{path}:{_line_of(raw, end.end()) + 1}",
            "text after the CMS signature (SOL004 appends the signature at the end of the "
            "manifest, and it covers everything before it)",
        )
        return None
    try:
        der = base64.b64decode(b"".join(raw[begin.end() : end.start()].split()), validate=True)
    except (binascii.Error, ValueError):
        log.error(where, "the CMS signature is not base64 between its BEGIN and END lines")
        return None
    if not der:
        log.error(where, "the CMS signature is empty")
        return None
    return raw[: begin.start()], der, where


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def certificate_path(names: frozenset[str], meta: ToscaMeta | None, manifest: str) -> str | None:
    """The certificate file the package carries for its manifest's signature: the one
    TOSCA.meta's ``ETSI-Entry-Certificate`` names, else ``<manifest stem>.cert`` beside the
    manifest; None if the package carries neither (the CMS must then hold the certificate)."""
    if meta is not None and meta.entry_certificate:
        return meta.entry_certificate if meta.entry_certificate in names else None
    stem = manifest.rsplit(".", 1)[0] if "." in manifest.rsplit("/", 1)[-1] else manifest
    beside = f"{stem}.cert"
    return beside if beside in names else None


def signed_manifest(
    files: PackageFiles, meta: ToscaMeta | None, manifest: str, raw: bytes, log: ProblemLog
) -> SignedManifest | None:
    """The manifest's signature with the certificate file the package carries for it; None
    when the manifest is unsigned or its signature malformed (then with an error)."""
    found = split_signature(manifest, raw, log)
    if found is None:
        return None
    content, cms, where = found
    path = certificate_path(files.names, meta, manifest)
    data = None
    if path is not None:
        data = read_logged(files, path, CERTIFICATE_MAX_BYTES, "a certificate", log)
        if data is None:
            return None
    return SignedManifest(manifest, content, cms, where, path, data)
