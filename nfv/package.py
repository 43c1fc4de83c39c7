"""Onboarding a VNF package: ``load_package(source) -> VnfPackage``, or ``InvalidPackage``
listing every problem found.

Steps, each collecting problems rather than stopping at the first:

1. open the CSAR (zip bytes, a zip file or a directory) safely (``csar``);
2. read ``TOSCA-Metadata/TOSCA.meta`` (or, without it, the single YAML file at the root);
3. gather the hashes the manifest and TOSCA.meta list (``manifest``), and, when the caller
   gives a ``signature_check``, find the manifest's CMS signature and the certificate the
   package carries for it (``signature``) and have the check verify it;
4. load the entry definitions and their imports, with the bundled SOL001 types for files the
   package does not carry (``definitions``), build the type library (``types``);
5. read the VNFD into the deployment model (``vnfd``);
6. check every hash gathered, and the checksum the VNFD declares for each software image the
   package carries (``artifacts``), reading each file once (``digests``).

Pure logic: no hub, no network, nothing written to disk (but what the ``signature_check``
the caller gives does). The hub calls this directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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
from atoll.nfv.signature import SignatureCheck, SignedManifest, VerifiedSignature, signed_manifest
from atoll.nfv.types import build_type_library
from atoll.nfv.vnfd import build_vnfd
from atoll.nfv.yaml_loader import YamlLimits, decode_utf8

SUMMARY = "the VNF package is invalid"
META_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class PackageLimits:
    csar: CsarLimits = field(default_factory=CsarLimits)
    yaml: YamlLimits = field(default_factory=YamlLimits)


def load_package(
    source: Path | bytes,
    limits: PackageLimits | None = None,
    bundled: BundledTypes | None = None,
    *,
    image_digests: Iterable[str] = (),
    check_hashes: bool = True,
    signature_check: SignatureCheck | None = None,
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
    None for an unsigned package, and says whether it holds (``VnfPackage.signature``);
    without one, a signature is not read (as before there was one).
    """
    limits = limits or PackageLimits()
    bundled = bundled or BundledTypes()
    log = ProblemLog()
    files = open_package(source, log, limits.csar)
    if files is None:
        log.raise_if_any(SUMMARY)
        raise InvalidPackage(SUMMARY)
    try:
        package = _read(
            files, log, limits, bundled, frozenset(image_digests), check_hashes, signature_check
        )
    finally:
        files.close()
    if package is None and not log.errors:  # every path that gives up says why; belt and braces
        log.error("(package)", "could not be read into a deployment model")
    log.raise_if_any(SUMMARY)
    assert package is not None
    return package


def _read(
    files: PackageFiles,
    log: ProblemLog,
    limits: PackageLimits,
    bundled: BundledTypes,
    image_digests: frozenset[str],
    check_hashes: bool,
    signature_check: SignatureCheck | None,
) -> VnfPackage | None:
    meta, entry = _entry(files, log)
    if entry is None:
        return None
    manifest, signed, known = _manifest(files, meta, entry, log, signature_check is not None)
    signature: VerifiedSignature | None = None
    if signature_check is not None and known:
        path = manifest.path if manifest is not None else None
        signature = signature_check(path, signed, log)
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
    loaded = load_definitions(files, entry, log, limits.yaml, bundled)
    library = build_type_library([item.doc for item in loaded], log)
    vnfd = build_vnfd(loaded, library, files.names, log)
    verified: tuple[str, ...] = ()
    digests: dict[str, FileDigest] = {}
    if check_hashes:
        verified, digests = _check_hashes(files, claims, vnfd, image_digests, log)
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
