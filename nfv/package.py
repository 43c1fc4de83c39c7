"""Onboarding a VNF package: ``load_package(source) -> VnfPackage``, or ``InvalidPackage``
listing every problem found.

Steps, each collecting problems rather than stopping at the first:

1. open the CSAR (zip bytes, a zip file or a directory) safely (``csar``); a zip that
   delivers a signed CSAR (SOL004 security option 2: ``signed_zip``) is checked, its CSAR
   unpacked to where the caller says, its signature checked over the CSAR's bytes, and the
   CSAR read from there, as any other, in the steps below;
2. read ``TOSCA-Metadata/TOSCA.meta`` (or, without it, the single YAML file at the root);
3. gather the hashes the manifest and TOSCA.meta list (``manifest``), and, when the caller
   gives a ``signature_check``, find the manifest's CMS signature and the certificate the
   package carries for it (``signature``) and have the check verify it, and each artifact's
   signature the manifest names (``signed_artifacts``);
4. load the entry definitions and their imports, with the bundled SOL001 types for files the
   package does not carry (``definitions``), build the type library (``types``);
5. read the VNFD into the deployment model (``vnfd``);
6. check every hash gathered, and the checksum the VNFD declares for each software image the
   package carries (``artifacts``), reading each file once (``digests``).

Pure logic: no hub, no network, nothing written to disk (but the CSAR of an option-2 zip,
to the one file the caller names, and what the ``signature_check`` the caller gives
writes). The hub calls this directly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from atoll.nfv.artifacts import image_claims, vnfd_image_needs
from atoll.nfv.csar import (
    CsarLimits,
    PackageFiles,
    open_package,
    read_logged,
)
from atoll.nfv.definitions import BundledTypes, load_definitions
from atoll.nfv.digests import Claim, FileDigest, check_claims, hash_files, wanted_by
from atoll.nfv.errors import InvalidPackage, ProblemLog
from atoll.nfv.manifest import (
    META_PATH,
    Manifest,
    ToscaMeta,
    listed_claims,
    parse_manifest,
    parse_tosca_meta,
)
from atoll.nfv.model import ImportedFile, Vnfd, VnfPackage
from atoll.nfv.signature import (
    SignatureCheck,
    SignedManifest,
    VerifiedSignature,
    certificate_path,
    signed_manifest,
)
from atoll.nfv.signed_artifacts import artifact_signatures, check_artifacts
from atoll.nfv.signed_zip import is_signed_zip, signed_zip, unpack
from atoll.nfv.types import build_type_library
from atoll.nfv.vnfd import build_vnfd
from atoll.nfv.yaml_loader import YamlLimits, decode_utf8

SUMMARY = "the VNF package is invalid"
META_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class PackageLimits:
    csar: CsarLimits = field(default_factory=CsarLimits)
    yaml: YamlLimits = field(default_factory=YamlLimits)
    # the CSAR an option-2 zip delivers, written to disk to be read (the hub: its
    # max_vnf_package_bytes, what it takes of a CSAR uploaded as it is)
    unpacked_csar_bytes: int = 8 * 1024**3


@dataclass(frozen=True)
class _Reading:
    """How ``load_package`` was asked to read (the same for an option-2 zip's CSAR)."""

    limits: PackageLimits
    bundled: BundledTypes
    image_digests: frozenset[str]
    check_hashes: bool
    signature_check: SignatureCheck | None


def load_package(
    source: Path | bytes,
    limits: PackageLimits | None = None,
    bundled: BundledTypes | None = None,
    *,
    image_digests: Iterable[str] = (),
    check_hashes: bool = True,
    signature_check: SignatureCheck | None = None,
    unpack_to: Path | None = None,
) -> VnfPackage:
    """Read and check a VNF package; raise ``InvalidPackage`` with every problem at once.

    ``source`` is the CSAR as bytes (an upload), or a path to a ``.csar``/``.zip`` file or an
    unpacked package directory. Pass one ``BundledTypes`` to every call of a long-lived
    process so the bundled SOL001 files are parsed once. ``image_digests`` (hashlib names)
    are computed of each image the package carries in the pass that verifies it, and given
    in ``VnfPackage.digests`` with every other digest computed (the hub's catalog records
    an image's ``sha256`` and ``sha512``: it need not read the image again).
    ``check_hashes=False`` reads a package already checked (onboarded: the hub's own copy,
    which never changes) without hashing its files again: no ``verified_files`` and no
    ``digests`` then, and an image of many GiB is not read to plan an instantiate.
    ``signature_check`` is given the manifest's signature (SOL004 security option 1), or
    None for an unsigned package, and says whether it holds (``VnfPackage.signature``), and
    each artifact signature the manifest names (``VnfPackage.artifact_signatures``);
    without one, no signature is read (as before there was one).

    ``source`` may also be a zip delivering a signed CSAR (SOL004 security option 2:
    ``NAME.csar``, ``NAME.cms``, ``NAME.cert``; :mod:`.signed_zip`): its CSAR is written to
    ``unpack_to`` (a file the caller owns; without it such a zip is refused), the check
    verifies the CSAR's signature over that file (``VnfPackage.csar_signature``), and the
    CSAR is read from it as any other (``VnfPackage.delivered_as`` names it).
    """
    reading = _Reading(
        limits or PackageLimits(),
        bundled or BundledTypes(),
        frozenset(image_digests),
        check_hashes,
        signature_check,
    )
    log = ProblemLog()
    files = open_package(source, log, reading.limits.csar)
    if files is None:
        log.raise_if_any(SUMMARY)
        raise InvalidPackage(SUMMARY)
    try:
        if is_signed_zip(files.names):
            package = _read_signed_zip(files, log, reading, unpack_to)
        else:
            package = _read(files, log, reading)
    finally:
        files.close()
    if package is None and not log.errors:  # every path that gives up says why; belt and braces
        log.error("(package)", "could not be read into a deployment model")
    log.raise_if_any(SUMMARY)
    assert package is not None
    return package


def _read_signed_zip(
    files: PackageFiles, log: ProblemLog, reading: _Reading, unpack_to: Path | None
) -> VnfPackage | None:
    """The CSAR an option-2 zip delivers: unpacked to ``unpack_to``, its signature checked,
    read as any other."""
    zipped = signed_zip(files, log)
    if zipped is None:
        return None
    if unpack_to is None:
        log.error(
            "(package)",
            "is a zip delivering a signed CSAR (SOL004 security option 2), which this reader "
            "is given nowhere to unpack",
        )
        return None
    size = unpack(files, zipped.csar, unpack_to, reading.limits.unpacked_csar_bytes, log)
    if size is None:
        return None
    check = reading.signature_check
    csar_signature = None
    if check is not None and zipped.signature is not None:
        csar_signature = check.detached(zipped.signature, unpack_to, size, log)
    opened = ProblemLog()  # what opening the CSAR finds names it, not the zip it came in
    inner = open_package(unpack_to, opened, reading.limits.csar)
    for problem in opened.errors:  # "(archive) 'x'" -> "vnf.csar 'x'"
        log.error(re.sub(r"^\((archive|package)\)", zipped.csar, problem.where), problem.what)
    if inner is None:
        return None
    try:
        package = _read(inner, log, reading, package_signed=True)
    finally:
        inner.close()
    if package is None:
        return None
    return replace(package, csar_signature=csar_signature, delivered_as=zipped.csar)


def _read(
    files: PackageFiles, log: ProblemLog, reading: _Reading, *, package_signed: bool = False
) -> VnfPackage | None:
    meta, entry = _entry(files, log)
    if entry is None:
        return None
    check = reading.signature_check
    manifest, signed, known = _manifest(files, meta, entry, log, check is not None)
    signature: VerifiedSignature | None = None
    artifacts: tuple[VerifiedSignature, ...] = ()
    if check is not None and known:
        path = manifest.path if manifest is not None else None
        signature = check(path, signed, log, package_signed=package_signed)
    if check is not None and manifest is not None:
        certificate = certificate_path(files.names, meta, manifest.path)
        found = artifact_signatures(files, manifest, log, certificate)
        artifacts = check_artifacts(files, found, check, log)
    claims: list[Claim] = []
    if meta is not None:
        claims += listed_claims(files.names, meta.listed_files, log, strict=False)
    if manifest is not None:
        claims += listed_claims(files.names, manifest.listed_files, log, strict=True)
    if meta is not None:
        for label, path in (
            ("ETSI-Entry-Change-Log", meta.entry_change_log),
            ("ETSI-Entry-Licenses", meta.entry_licenses),
            ("ETSI-Entry-Certificate", meta.entry_certificate),
        ):
            if path and path not in files.names:
                log.warn(META_PATH, f"{label} names {path}, which is not in the package")
    loaded = load_definitions(files, entry, log, reading.limits.yaml, reading.bundled)
    library = build_type_library([item.doc for item in loaded], log)
    vnfd = build_vnfd(loaded, library, files.names, log)
    verified: tuple[str, ...] = ()
    digests: dict[str, FileDigest] = {}
    if reading.check_hashes:
        verified, digests = _check_hashes(files, claims, vnfd, reading.image_digests, log)
    if vnfd is None:
        return None
    return VnfPackage(
        entry_definitions=entry,
        meta=meta,
        manifest=manifest,
        files=tuple(sorted(files.names)),
        verified_files=verified,
        definitions=tuple(
            ImportedFile(item.doc.path, item.source, _template_version(item.doc.data))
            for item in loaded
        ),
        vnfd=vnfd,
        warnings=tuple(log.warnings),
        digests=MappingProxyType(digests),
        signature=signature,
        artifact_signatures=artifacts,
    )


def _check_hashes(
    files: PackageFiles,
    claims: list[Claim],
    vnfd: Vnfd | None,
    image_digests: frozenset[str],
    log: ProblemLog,
) -> tuple[tuple[str, ...], dict[str, FileDigest]]:
    """Check the hashes listed (``claims``) and the checksum the VNFD declares for each image
    the package carries, reading each file once, with ``image_digests`` of each carried image
    computed in the same pass; the paths verified, and every file's digests."""
    needs = vnfd_image_needs(vnfd) if vnfd is not None else ()
    claims = [*claims, *image_claims(needs, log)]
    wanted = wanted_by(claims)
    for need in needs:
        if need.carried and need.image.artifact is not None and image_digests:
            wanted.setdefault(need.image.artifact, set()).update(image_digests)
    digests = hash_files(files, wanted, log)
    return check_claims(claims, digests, log), digests


def _template_version(data: object) -> str | None:
    meta = data.get("metadata") if isinstance(data, dict) else None
    version = meta.get("template_version") if isinstance(meta, dict) else None
    return str(version) if isinstance(version, str | int | float) else None


def _raw(files: PackageFiles, name: str, log: ProblemLog) -> bytes | None:
    return read_logged(files, name, META_MAX_BYTES, "metadata", log)


def _text(files: PackageFiles, name: str, log: ProblemLog) -> str | None:
    raw = _raw(files, name, log)
    return decode_utf8(name, raw, log) if raw is not None else None


def _entry(files: PackageFiles, log: ProblemLog) -> tuple[ToscaMeta | None, str | None]:
    """TOSCA.meta and the entry definitions path it names (checked to exist)."""
    if META_PATH in files.names:
        text = _text(files, META_PATH, log)
        meta = parse_tosca_meta(text, log) if text is not None else None
        if meta is None:
            return None, None
        entry = meta.entry_definitions
        if entry not in files.names:
            log.error(META_PATH, f"Entry-Definitions names {entry}, which is not in the package")
            return meta, None
        return meta, entry
    roots = sorted(n for n in files.names if "/" not in n and n.endswith((".yaml", ".yml")))
    if len(roots) == 1:
        return None, roots[0]
    log.error(
        "(package)",
        f"has no {META_PATH} and {len(roots)} YAML files at its root (exactly one is the"
        " entry definitions when there is no TOSCA.meta)",
    )
    return None, None


def _manifest(
    files: PackageFiles, meta: ToscaMeta | None, entry: str, log: ProblemLog, signed: bool
) -> tuple[Manifest | None, SignedManifest | None, bool]:
    """The manifest, its signature if ``signed`` asks for it (None: unsigned, or there is
    no manifest), and whether that is known (not when the manifest or its signature cannot
    be read: ``log`` says why)."""
    path = meta.entry_manifest if meta is not None else None
    if path is None:
        stem = entry.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        candidates = [n for n in files.names if n.endswith(".mf") and "/" not in n]
        named = [n for n in candidates if n == f"{stem}.mf"]
        if named:
            path = named[0]
        elif len(candidates) == 1:
            path = candidates[0]
        elif candidates:
            log.warn("(package)", "several .mf files at the root and none named by TOSCA.meta")
    elif path not in files.names:
        log.error(META_PATH, f"ETSI-Entry-Manifest names {path}, which is not in the package")
        return None, None, False
    if path is None:
        return None, None, True
    raw = _raw(files, path, log)
    text = decode_utf8(path, raw, log) if raw is not None else None
    if raw is None or text is None:
        return None, None, False
    manifest = parse_manifest(path, text, log)
    if not signed:
        return manifest, None, True
    errors = len(log.errors)
    signature = signed_manifest(files, meta, path, raw, log)
    return manifest, signature, len(log.errors) == errors
