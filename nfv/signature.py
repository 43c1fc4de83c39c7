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

The other signatures SOL004 knows are detached CMS signatures of a file, in a file of their
own (:class:`DetachedSignature`, DER or PEM: :func:`cms_der`): option 2's of the whole CSAR,
beside it in the zip that delivers it (:mod:`.signed_zip`), and a signed artifact's, which
its manifest entry names (:mod:`.signed_artifacts`).

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
from typing import TYPE_CHECKING, Protocol

from atoll.nfv.csar import PackageFiles, read_logged
from atoll.nfv.errors import ProblemLog
from atoll.nfv.manifest import ToscaMeta

if TYPE_CHECKING:
    from atoll.cms import Content

LABELS = ("CMS", "PKCS7")  # PEM labels taken for the manifest's signature
CERTIFICATE_MAX_BYTES = 1024 * 1024
SIGNATURE_MAX_BYTES = 1024 * 1024  # a signature file (a CMS, with the certificates it carries)
_BEGIN = re.compile(rb"^[ \t]*-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?$", re.MULTILINE)

# what a detached signature is of (DetachedSignature.kind)
CSAR = "csar"  # the whole CSAR, in the zip that delivers it (SOL004 security option 2)
ARTIFACT = "artifact"  # one file of the package, its manifest entry naming the signature


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

    subject = "the manifest"  # what a refusal says is signed

    @property
    def certificate_places(self) -> str:
        """Where the signer's certificate is looked for besides the CMS."""
        return self.certificate or "ETSI-Entry-Certificate in TOSCA.meta, or a .cert file"


@dataclass(frozen=True)
class DetachedSignature:
    """A detached CMS signature of one file, in a file of its own: of the CSAR an option-2
    zip delivers (``kind`` :data:`CSAR`) or of a signed artifact (:data:`ARTIFACT`), with the
    certificate file given for it, if any. ``where`` is what a refusal names: the signature
    file (``vnf.cms``), or the manifest line naming it (``vnf.mf:23``)."""

    kind: str
    path: str  # the file signed: ``vnf.csar``, ``Files/images/x.img``
    signature: str  # the signature's file: ``vnf.cms``, ``Files/images/x.img.sig.cms``
    cms: bytes  # DER
    where: str
    certificate: str | None = None
    certificate_data: bytes | None = None

    @property
    def subject(self) -> str:
        what = "the CSAR" if self.kind == CSAR else "the artifact"
        return f"{what} {self.path}"

    @property
    def certificate_places(self) -> str:
        if self.certificate is not None:
            return self.certificate
        if self.kind == CSAR:
            return f"a .cert file beside {self.path} in the zip"
        return "a Certificate: of its manifest entry"


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that verified, of the file at ``path`` (the manifest, the CSAR of an
    option-2 zip, an artifact): who signed (the signer certificate's subject, as RFC 4514
    writes it), who issued that certificate, and until when it is valid.
    ``chain_verified`` False: only the signature was checked, with the key of the
    certificate it names, not that certificate's chain (``atoll vnf package validate``
    without ``--trust-anchors``; the hub always verifies the chain)."""

    path: str
    signer: str
    issuer: str
    not_after: str
    chain_verified: bool = True


class SignatureCheck(Protocol):
    """Checks a package's signatures against trust anchors, each problem going to ``log``
    (an error refuses the package).

    Called with the manifest's signature (SOL004 security option 1), or ``signed`` None for
    an unsigned manifest (``manifest``, its path, None when the package has none): it then
    decides what an unsigned package gets, ``package_signed`` saying that the CSAR itself is
    signed (security option 2), which a package may have instead. :meth:`detached` checks a
    detached signature of ``content`` (``size`` bytes: they may be gigabytes, streamed)."""

    def __call__(
        self,
        manifest: str | None,
        signed: SignedManifest | None,
        log: ProblemLog,
        *,
        package_signed: bool = False,
    ) -> VerifiedSignature | None: ...

    def detached(
        self, signed: DetachedSignature, content: Content, size: int, log: ProblemLog
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


def cms_der(path: str, raw: bytes, log: ProblemLog) -> bytes | None:
    """The CMS SignedData (DER) a signature file holds: DER as it is, or PEM (one ``-----BEGIN
    CMS-----`` or ``PKCS7`` block, alone in the file); None, with an error naming the file,
    when it is neither."""
    begin = _BEGIN.search(raw)
    if begin is None:
        if raw[:1] != b"\x30":  # a DER SEQUENCE, as every ContentInfo starts
            log.error(path, "is not a CMS signature (DER, or PEM -----BEGIN CMS-----)")
            return None
        return raw
    label = begin.group(1).decode("ascii")
    if label not in LABELS:
        log.error(path, f"holds a -----BEGIN {label}----- block, not a CMS signature")
        return None
    errors = len(log.errors)
    found = split_signature(path, raw, log)
    if found is not None and found[0].strip():
        log.error(path, "holds more than a CMS signature (its PEM block, alone)")
        return None
    if found is None and len(log.errors) == errors:
        log.error(path, "is not a CMS signature (DER, or PEM -----BEGIN CMS-----)")
    return None if found is None else found[1]
