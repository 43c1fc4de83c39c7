"""VNF package signatures at onboarding (SOL004 security option 1), as the operator set them.

A package's manifest may carry a CMS signature; :mod:`atoll.nfv.signature` finds it and the
certificate the package carries for it, and ``load_package`` hands both to the check made
here (:func:`signature_check`), in the onboarding worker thread. ``[hub]
vnf_package_signature`` says what it does:

- ``verify-if-signed`` (the default): a signed manifest must verify against ``[hub]
  vnf_package_trust_anchors``, else the package is refused; an unsigned package onboards.
  With no trust anchors set, every signed package is refused, saying so;
- ``required``: the same, and an unsigned package (or one without a manifest) is refused;
- ``off``: no signature is read (``load_package`` gets no check).

The check (:func:`atoll.cms.verify_detached`, ``openssl cms -verify``): the signature is of
the manifest without it, made with the signer certificate's key; that certificate (in the
CMS, or the package's ``ETSI-Entry-Certificate`` file, or ``<manifest>.cert``) chains to a
trust anchor and only to those, each certificate valid now. A package that passes records
who signed it (``VnfPackage.signature``). Each refusal names the manifest line the signature
starts on and what failed, in OpenSSL's words too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from atoll import cms
from atoll.errors import ConfigError
from atoll.hub.settings import HubSettings
from atoll.nfv.errors import ProblemLog
from atoll.nfv.signature import SignatureCheck, SignedManifest, VerifiedSignature

log = logging.getLogger(__name__)

POLICY = "[hub] vnf_package_signature"
ANCHORS = "[hub] vnf_package_trust_anchors"


@dataclass(frozen=True)
class TrustAnchors:
    """The CA certificates a signer must chain to (PEM), as read when the hub started."""

    pem: bytes
    subjects: tuple[str, ...]


def load_anchors(path: Path | None) -> TrustAnchors | None:
    """``[hub] vnf_package_trust_anchors``; None when unset. A file that cannot be read or
    holds no PEM certificate is a ConfigError (the hub does not start on it)."""
    if path is None:
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{ANCHORS}: {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        certificates = x509.load_pem_x509_certificates(raw)
    except ValueError as exc:
        raise ConfigError(f"{ANCHORS}: {path} is not a bundle of PEM certificates ({exc})") from exc
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in certificates)
    return TrustAnchors(pem, tuple(c.subject.rfc4514_string() for c in certificates))


def signature_check(settings: HubSettings) -> SignatureCheck | None:
    """The check onboarding gives ``load_package``, per ``settings``; None when ``off``."""
    if settings.vnf_package_signature == "off":
        return None
    anchors = load_anchors(settings.vnf_package_trust_anchors)
    required = settings.vnf_package_signature == "required"
    if anchors is None:  # the default: worth a word, a warning when nothing can onboard
        log.log(
            logging.WARNING if required else logging.INFO,
            "%s is not set: signed VNF packages are refused%s",
            ANCHORS,
            ", and so is every other" if required else "",
        )
    return ManifestSignatureCheck(required, anchors)


@dataclass(frozen=True)
class ManifestSignatureCheck:
    """:class:`atoll.nfv.signature.SignatureCheck` against ``anchors``; ``required``: an
    unsigned package is refused. Blocking (runs openssl): call it off the event loop."""

    required: bool
    anchors: TrustAnchors | None
    timeout: float = cms.TIMEOUT
    openssl: str = "openssl"

    def __call__(
        self, manifest: str | None, signed: SignedManifest | None, log: ProblemLog
    ) -> VerifiedSignature | None:
        if signed is None:
            if self.required:
                what = "the manifest carries no CMS signature" if manifest else "no manifest"
                log.error(
                    manifest or "(package)",
                    f"{what}, and this hub onboards signed VNF packages only ({POLICY} = "
                    '"required"; SOL004 security option 1: the manifest signed with CMS)',
                )
            return None
        if self.anchors is None:
            log.error(
                signed.where,
                f"the manifest is signed, but this hub has no trust anchors to verify it "
                f"against: the operator sets {ANCHORS} to a PEM bundle of the CAs trusted "
                f'to sign VNF packages (or {POLICY} = "off" to onboard without checking)',
            )
            return None
        carried = _carried(signed, log)
        if carried is None:
            return None
        untrusted = b"".join(c.public_bytes(Encoding.PEM) for c in carried)
        try:
            signer = cms.verify_detached(
                signed.content,
                signed.cms,
                self.anchors.pem,
                untrusted,
                timeout=self.timeout,
                openssl=self.openssl,
            )
        except cms.CmsRefused as exc:
            log.error(signed.where, _refusal(exc, signed, carried))
            return None
        return VerifiedSignature(
            signed.manifest,
            signer.subject.rfc4514_string(),
            signer.issuer.rfc4514_string(),
            signer.not_valid_after_utc.isoformat(),
        )


def _carried(signed: SignedManifest, log: ProblemLog) -> list[x509.Certificate] | None:
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
            "is not an X.509 certificate (PEM or DER): the manifest's signer certificate is "
            "looked for here",
        )
        return None


def _refusal(exc: cms.CmsRefused, signed: SignedManifest, carried: list[x509.Certificate]) -> str:
    said = f"(openssl: {exc.said})"
    if exc.kind == cms.CONTENT:
        return (
            "the manifest does not match its signature: it was changed after it was signed, "
            f"or the signature is of other content {said}"
        )
    if exc.kind == cms.SIGNATURE:
        return f"the signature was not made with the signer certificate's key {said}"
    if exc.kind == cms.NO_SIGNER:
        where = signed.certificate or "ETSI-Entry-Certificate in TOSCA.meta, or a .cert file"
        return (
            "the signer's certificate is neither in the CMS signature nor in the certificate "
            f"file of the package ({where}) {said}"
        )
    if exc.kind == cms.CERTIFICATE:
        return (
            f"the signer's certificate{_signer(signed, carried)} is not trusted: "
            f"{_reason(exc.said)}; a signer must chain to a CA of {ANCHORS}"
        )
    if exc.kind == cms.MALFORMED:
        return f"the signature is not a CMS SignedData {said}"
    return f"the signature does not verify {said}"


def _reason(said: str) -> str:
    """``certificate verify error (certificate has expired)`` -> ``certificate has expired``."""
    head, _, rest = said.partition("(")
    return rest.rstrip(")") if head.strip() == "certificate verify error" and rest else said


def _signer(signed: SignedManifest, carried: list[x509.Certificate]) -> str:
    """`` (subject, issued by ..., valid ... to ...)`` when one end-entity certificate is
    among those the CMS and the package carries, else nothing. Those certificates are the
    tenant's bytes, parsed lazily: one whose name or extensions do not parse is left out
    (before, it raised here and onboarding ended as the hub's internal error)."""
    try:
        inside = pkcs7.load_der_pkcs7_certificates(signed.cms)
    except (ValueError, UnsupportedAlgorithm):  # no certificates in the CMS, or unreadable
        inside = []
    leaves = {c.fingerprint(hashes.SHA256()): c for c in inside + carried}
    described = [_described(c) for c in leaves.values()]
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
