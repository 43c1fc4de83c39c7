"""SOL004 signed artifacts (clause 5.3): a file of the package with a CMS signature of its
own, which its manifest entry names.

A manifest entry may name, besides the file's hash, the file's signature and the signer's
certificate::

    Source: Files/images/vnf.img
    Algorithm: SHA-256
    Hash: 5f1c...
    Signature: Files/images/vnf.img.sig.cms
    Certificate: Files/images/vnf.img.cert

The signature is a detached CMS SignedData of the file's bytes (DER, or PEM ``-----BEGIN
CMS-----``). The certificate (PEM or DER) may be left out: the CMS may carry it, and the
certificate file the package gives for its manifest's signature (``ETSI-Entry-Certificate``,
``<manifest>.cert``) is offered too.

:func:`artifact_signatures` reads them (each a
:class:`atoll.nfv.signature.DetachedSignature`, or an error naming the manifest line: a path
outside the package, a file the package does not hold, a ``Certificate`` without a
``Signature``); :func:`check_artifacts` has the caller's check verify each over the file's
bytes, streamed from the package to openssl: an image of gigabytes is never held in memory
(it is read once more than unsigned files are, for its signature).
"""

from __future__ import annotations

import functools

from atoll.nfv.csar import PackageFiles, read_chunks, read_logged, safe_member_name
from atoll.nfv.errors import ProblemLog
from atoll.nfv.manifest import ListedFile, Manifest
from atoll.nfv.signature import (
    ARTIFACT,
    CERTIFICATE_MAX_BYTES,
    SIGNATURE_MAX_BYTES,
    DetachedSignature,
    SignatureCheck,
    VerifiedSignature,
    cms_der,
)


def artifact_signatures(
    files: PackageFiles,
    manifest: Manifest,
    log: ProblemLog,
    package_certificate: str | None = None,
) -> list[DetachedSignature]:
    """The signatures the manifest's entries name, each read; ``package_certificate`` (the
    certificate file the package gives for its manifest's signature) is offered for an
    entry that names no certificate of its own."""
    found: list[DetachedSignature] = []
    for entry in manifest.listed_files:
        if entry.signature is None and entry.certificate is None:
            continue
        where = entry.signed_at or entry.listed_at
        path = safe_member_name(entry.path)
        if path is None or path not in files.names:
            continue  # the hash check says so (listed_claims), naming the entry
        if entry.signature is None:
            log.error(
                where,
                f"{path} has a Certificate but no Signature (SOL004 5.3: a signed artifact's "
                "manifest entry names its signature, and its certificate if the CMS does not "
                "carry it)",
            )
            continue
        signed = _read(files, entry, path, where, log, package_certificate)
        if signed is not None:
            found.append(signed)
    return found


def _read(
    files: PackageFiles,
    entry: ListedFile,
    path: str,
    where: str,
    log: ProblemLog,
    package_certificate: str | None,
) -> DetachedSignature | None:
    assert entry.signature is not None
    signature = _named(files, "Signature", entry.signature, where, log)
    certificate = package_certificate
    if entry.certificate is not None:
        certificate = _named(files, "Certificate", entry.certificate, where, log)
        if certificate is None:
            return None
    if signature is None:
        return None
    raw = read_logged(files, signature, SIGNATURE_MAX_BYTES, "a CMS signature", log)
    der = None if raw is None else cms_der(signature, raw, log)
    cert_data = None
    if certificate is not None:
        cert_data = read_logged(files, certificate, CERTIFICATE_MAX_BYTES, "a certificate", log)
        if cert_data is None:
            return None
    if der is None:
        return None
    return DetachedSignature(ARTIFACT, path, signature, der, where, certificate, cert_data)


def _named(files: PackageFiles, key: str, value: str, where: str, log: ProblemLog) -> str | None:
    """The package path a ``Signature``/``Certificate`` value names, if the package has it."""
    name = safe_member_name(value)
    if name is None:
        log.error(where, f"{key}: {value!r} is not a path inside the package")
    elif name not in files.names:
        log.error(where, f"{key}: names {name}, which is not in the package")
    else:
        return name
    return None


def check_artifacts(
    files: PackageFiles,
    signatures: list[DetachedSignature],
    check: SignatureCheck,
    log: ProblemLog,
) -> tuple[VerifiedSignature, ...]:
    """Each signature verified by ``check`` over its file's bytes, streamed; those that
    held (each refusal is in ``log``, naming the manifest line)."""
    held = []
    for signed in signatures:
        content = functools.partial(read_chunks, files, signed.path)
        verified = check.detached(signed, content, files.size(signed.path), log)
        if verified is not None:
            held.append(verified)
    return tuple(held)
