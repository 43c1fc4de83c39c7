"""Checking a VNF package's signatures (SOL004 clause 5): the one check the hub's onboarding
and ``atoll vnf package validate`` both run.

:class:`ManifestSignatureCheck` is the :class:`atoll.nfv.signature.SignatureCheck`
``load_package`` is given. It checks the manifest's signature (security option 1), the
CSAR's signature of an option-2 zip and each signed artifact's (:meth:`detached`) alike.
With trust (:mod:`.signature_trust`) it verifies with :func:`atoll.cms.verify_detached`
(``openssl cms -verify``): the signature is of the content (the manifest without it, the
CSAR's bytes, the artifact's), made with the signer certificate's key; that certificate (in
the CMS, or the certificate file the package gives for it) chains to a trust anchor and only
to those, each certificate valid now and, with CRLs, revoked by none of them. Without trust
it refuses a signed package (the hub: ``Terms.unanchored`` says why) or says who signed it
without verifying the chain (``validate`` without ``--trust-anchors``). ``required``: a
package whose manifest is unsigned (or that has none) is refused, unless the CSAR itself is
signed (option 2).

Each refusal names where the signature is (the manifest line it starts on, the manifest
line naming an artifact's, an option-2 zip's ``.cms``) and what failed, in OpenSSL's words
too; :class:`Terms` names the rules applied as the caller knows them (the hub's settings,
the command's options), the only difference between the hub's text and the command's.
Blocking (runs openssl): call it off the event loop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from atoll import cms
from atoll.nfv.csar import UnreadableEntry
from atoll.nfv.errors import ProblemLog
from atoll.nfv.signature import DetachedSignature, SignedManifest, VerifiedSignature
from atoll.nfv.signature_trust import Crls, Trust
from atoll.watched_file import FileUnusable


@dataclass(frozen=True)
class Terms:
    """How refusals name the rules they apply."""

    anchors: str  # where trust anchors are set: ``[hub] vnf_package_trust_anchors``
    crls: str  # where CRLs are set
    required: str  # why an unsigned package is refused (after "no CMS signature, and ")
    # why a signed package is refused while no anchors are set (after "<what> is signed,
    # but "); None: say who signed, unverified
    unanchored: str | None


class _Signed(Protocol):
    """A signature as a refusal describes it (a manifest's, or a detached one)."""

    @property
    def cms(self) -> bytes: ...
    @property
    def where(self) -> str: ...
    @property
    def certificate(self) -> str | None: ...
    @property
    def certificate_data(self) -> bytes | None: ...
    @property
    def subject(self) -> str: ...
    @property
    def certificate_places(self) -> str: ...


@dataclass(frozen=True)
class ManifestSignatureCheck:
    """:class:`atoll.nfv.signature.SignatureCheck` against ``trust`` (None: none; see
    :class:`Terms`); ``required``: an unsigned package is refused."""

    required: bool
    trust: Trust | None
    terms: Terms
    timeout: float = cms.TIMEOUT
    openssl: str = "openssl"

    def __call__(
        self,
        manifest: str | None,
        signed: SignedManifest | None,
        log: ProblemLog,
        *,
        package_signed: bool = False,
    ) -> VerifiedSignature | None:
        if signed is None:
            if self.required and not package_signed:
                what = "the manifest carries no CMS signature" if manifest else "no manifest"
                log.error(manifest or "(package)", f"{what}, and {self.terms.required}")
            return None
        return self._verify(signed, signed.manifest, signed.content, len(signed.content), log)

    def detached(
        self, signed: DetachedSignature, content: cms.Content, size: int, log: ProblemLog
    ) -> VerifiedSignature | None:
        """Check ``signed``, a detached signature of ``content`` (``size`` bytes, streamed to
        openssl, given time in proportion); a file that cannot be read whole is refused."""
        try:
            return self._verify(signed, signed.path, content, size, log)
        except UnreadableEntry as exc:
            log.error(signed.path, str(exc))
            return None

    def _verify(
        self, signed: _Signed, path: str, content: cms.Content, size: int, log: ProblemLog
    ) -> VerifiedSignature | None:
        if self.trust is None and self.terms.unanchored is not None:
            log.error(signed.where, f"{signed.subject} is signed, but {self.terms.unanchored}")
            return None
        carried = _carried(signed, log)
        if carried is None:
            return None
        try:
            anchors = None if self.trust is None else self.trust.anchors.current().pem
            watched = None if self.trust is None else self.trust.crls
            crls = None if watched is None else watched.current()
        except FileUnusable as exc:
            log.error(signed.where, _unusable(signed, exc))
            return None
        untrusted = b"".join(c.public_bytes(Encoding.PEM) for c in carried)
        try:
            signer = cms.verify_detached(
                content,
                signed.cms,
                anchors,
                untrusted,
                crls=b"" if crls is None else crls.pem,
                timeout=cms.timeout_for(size, self.timeout),
                openssl=self.openssl,
            )
        except cms.CmsRefused as exc:
            log.error(signed.where, _refusal(exc, signed, carried, self.terms, crls))
            return None
        return VerifiedSignature(
            path,
            signer.subject.rfc4514_string(),
            signer.issuer.rfc4514_string(),
            signer.not_valid_after_utc.isoformat(),
            chain_verified=anchors is not None,
        )


def _unusable(signed: _Signed, exc: FileUnusable) -> str:
    return (
        f"{signed.subject} is signed, but it cannot be verified: {exc.setting} "
        f"({exc.path.name}) {exc.reason}; signed packages are refused until the file is fixed"
    )


def _carried(signed: _Signed, log: ProblemLog) -> list[x509.Certificate] | None:
    """The certificates of the package's certificate file (PEM, or one DER certificate);
    None when it holds none (said in ``log``)."""
    if signed.certificate is None or signed.certificate_data is None:
        return []
    data = signed.certificate_data
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        log.error(
            signed.certificate,
            f"is not an X.509 certificate (PEM or DER): the signer certificate of "
            f"{signed.subject} is looked for here",
        )
        return None


def _refusal(
    exc: cms.CmsRefused,
    signed: _Signed,
    carried: list[x509.Certificate],
    terms: Terms,
    crls: Crls | None,
) -> str:
    said = f"(openssl: {exc.said})"
    if exc.kind == cms.CONTENT:
        return (
            f"{signed.subject} does not match its signature: it was changed after it was "
            f"signed, or the signature is of other content {said}"
        )
    if exc.kind == cms.SIGNATURE:
        return f"the signature was not made with the signer certificate's key {said}"
    if exc.kind == cms.NO_SIGNER:
        return (
            "the signer's certificate is neither in the CMS signature nor in the certificate "
            f"file of the package ({signed.certificate_places}) {said}"
        )
    if exc.kind == cms.CERTIFICATE:
        return (
            f"the signer's certificate{_signer(signed, carried)} is not trusted: "
            f"{_reason(exc.said)}; a signer must chain to a CA of {terms.anchors}"
        )
    if exc.kind == cms.REVOKED:
        return _revoked(signed, carried, terms, crls, said)
    if exc.kind == cms.CRL:
        return (
            f"the signer's certificate{_signer(signed, carried)} cannot be checked for "
            f"revocation: {_crl_gap(signed, carried, crls, _reason(exc.said))}; with "
            f"{terms.crls} set, every CA of its chain must have a current CRL there"
        )
    if exc.kind == cms.CARRIED_CRLS:
        return (
            f"the CMS signature is {exc.said}; with {terms.crls} set, revocation is checked "
            "against those CRLs only (encode the signature as DER)"
        )
    if exc.kind == cms.MALFORMED:
        return f"the signature is not a CMS SignedData {said}"
    return f"the signature does not verify {said}"


def _reason(said: str) -> str:
    """``certificate verify error (certificate has expired)`` -> ``certificate has expired``."""
    head, _, rest = said.partition("(")
    return rest.rstrip(")") if head.strip() == "certificate verify error" and rest else said


def _revoked(
    signed: _Signed,
    carried: list[x509.Certificate],
    terms: Terms,
    crls: Crls | None,
    said: str,
) -> str:
    """Which certificate of the chain a CRL revokes (OpenSSL says only that one is): the
    signer's, or a CA's it chains through."""
    found: list[tuple[bool, str, str]] = []  # (is a CA's, subject, how it is revoked)
    for cert in _certificates(signed, carried):
        try:
            how = _revocation(cert, crls)
            if how is not None:
                found.append((_is_ca(cert), cert.subject.rfc4514_string(), how))
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
            continue  # a carried certificate that does not parse: not the one to name
    signer = _signer(signed, carried)
    for is_ca, subject, how in sorted(found):  # the signer's own first
        what = f"is revoked ({how} of {terms.crls})"
        if not is_ca:
            return f"the signer's certificate {subject} {what}"
        return f"the signer's certificate{signer} chains through {subject}, which {what}"
    return f"the signer's certificate{signer} is revoked by a CRL of {terms.crls} {said}"


def _crl_gap(
    signed: _Signed, carried: list[x509.Certificate], crls: Crls | None, reason: str
) -> str:
    """Which CA of the signer's chain has no CRL there, or an outdated one, with OpenSSL's
    ``reason``; that alone when it cannot be told."""
    now = dt.datetime.now(dt.UTC)
    for issuer in _issuers(signed, carried):
        own = [c for c in (crls.crls if crls is not None else ()) if c.issuer == issuer]
        name = issuer.rfc4514_string()
        if not own:
            return f"no CRL of {name} is there (openssl: {reason})"
        due = [c.next_update_utc for c in own]
        if all(when is not None and when < now for when in due):
            last = max(when for when in due if when is not None)
            return (
                f"the CRL of {name} is out of date, its next update due "
                f"{last:%Y-%m-%d %H:%M} UTC (openssl: {reason})"
            )
    return reason


def _issuers(signed: _Signed, carried: list[x509.Certificate]) -> list[x509.Name]:
    """The issuers along the signer's chain, up from its one end-entity certificate through
    the CA certificates carried (to a self-issued one, or as far as they go); none when the
    signer is not one certificate, or a name does not parse."""
    try:
        certs = _certificates(signed, carried)
        ends = [c for c in certs if not _is_ca(c)]
        if len(ends) != 1:
            return []
        cas = {c.subject: c for c in certs if _is_ca(c)}
        issuers: list[x509.Name] = []
        cert = ends[0]
        while cert.issuer not in issuers:
            issuers.append(cert.issuer)
            if cert.issuer == cert.subject or cert.issuer not in cas:
                break
            cert = cas[cert.issuer]
        return issuers
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return []


def _revocation(cert: x509.Certificate, crls: Crls | None) -> str | None:
    """How a CRL revokes ``cert``, if one does: ``since ..., key compromise, by the CRL of
    <issuer>``."""
    for crl in crls.crls if crls is not None else ():
        if crl.issuer != cert.issuer:
            continue
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is None:
            continue
        how = [f"since {entry.revocation_date_utc:%Y-%m-%d %H:%M} UTC"]
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            how.append(reason.name.replace("_", " ").lower())
        except x509.ExtensionNotFound:
            pass
        return f"{', '.join(how)}, by the CRL of {crl.issuer.rfc4514_string()}"
    return None


def _certificates(signed: _Signed, carried: list[x509.Certificate]) -> list[x509.Certificate]:
    """The certificates the CMS and the package carry, each once. They are the tenant's
    bytes, parsed lazily: reading one may raise, and callers read them leniently."""
    try:
        inside = pkcs7.load_der_pkcs7_certificates(signed.cms)
    except (ValueError, UnsupportedAlgorithm):  # no certificates in the CMS, or unreadable
        inside = []
    return list({c.fingerprint(hashes.SHA256()): c for c in inside + carried}.values())


def _signer(signed: _Signed, carried: list[x509.Certificate]) -> str:
    """`` (subject, issued by ..., valid ... to ...)`` when one end-entity certificate is
    among those the CMS and the package carries, else nothing. One whose name or extensions
    do not parse is left out (before, it raised here and onboarding ended as the hub's
    internal error)."""
    described = [_described(c) for c in _certificates(signed, carried)]
    ends = [d for d in described if d is not None and not d[0]]
    if len(ends) != 1:
        return ""
    return ends[0][1]


def _described(cert: x509.Certificate) -> tuple[bool, str] | None:
    """Whether ``cert`` is a CA's, and its description; None if it does not parse."""
    try:
        return _is_ca(cert), (
            f" ({cert.subject.rfc4514_string()}, issued by {cert.issuer.rfc4514_string()}, "
            f"valid {cert.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
        )
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
