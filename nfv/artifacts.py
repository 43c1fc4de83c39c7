"""What onboarding needs besides the model: the images each VDU or storage boots from, and
the VNFD files themselves (for SOL005 ``GET .../vnfd``).

``image_needs`` lists every ``sw_image_data`` with whether the package carries the bits; the
hub registers carried images in its catalog, and for the others asks for a mapping to an
image already there (by name or checksum), saying which node lacks one. ``image_claims``
says what the VNFD declares of each carried image's bits: ``load_package`` checks it against
the file (SOL004: a software image in the package must have the checksum its VNFD
declares), so a carried image is never registered under a checksum it does not have.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from atoll.errors import Problem
from atoll.nfv.csar import CsarLimits, UnreadableEntry, open_package, read_bounded
from atoll.nfv.digests import Claim
from atoll.nfv.errors import InvalidPackage, ProblemLog
from atoll.nfv.manifest import META_PATH, ListedFile
from atoll.nfv.model import SwImage, Vnfd, VnfPackage

MAX_VNFD_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ImageNeed:
    """One image a flavour needs: on ``node`` (a VDU or a virtual storage) of ``flavour``."""

    flavour: str
    node: str
    image: SwImage

    @property
    def carried(self) -> bool:
        return self.image.artifact_present


def image_needs(package: VnfPackage) -> tuple[ImageNeed, ...]:
    return vnfd_image_needs(package.vnfd)


def vnfd_image_needs(vnfd: Vnfd) -> tuple[ImageNeed, ...]:
    out = []
    for flavour in vnfd.flavours:
        for vdu in flavour.vdus:
            if vdu.sw_image is not None:
                out.append(ImageNeed(flavour.id, vdu.id, vdu.sw_image))
        for storage in flavour.storages:
            if storage.sw_image is not None:
                out.append(ImageNeed(flavour.id, storage.id, storage.sw_image))
    return tuple(out)


def image_claims(needs: Iterable[ImageNeed], log: ProblemLog) -> list[Claim]:
    """The checksum the VNFD declares for each image the package carries, as a claim on the
    image file; a carried image declaring no checksum is a problem (it cannot be verified).
    Images the package does not carry are bound by checksum to catalog images (the hub)."""
    claims = []
    for need in needs:
        image = need.image
        if not need.carried or image.artifact is None:
            continue
        where = image.checksum.where or f"flavour {need.flavour}: {need.node}.sw_image_data"
        subject = f"{need.node}: image {image.name!r}, carried as {image.artifact}"
        if not image.checksum.hash.strip():
            log.error(
                where,
                f"{subject}: the VNFD declares no checksum for it, and an image the package "
                "carries is verified against the one declared (algorithm sha-256, sha-384 or "
                "sha-512, and its hash)",
            )
            continue
        claims.append(
            Claim(
                image.artifact,
                image.checksum.algorithm,
                image.checksum.hash,
                where,
                subject,
                said="the VNFD declares",
            )
        )
    return claims


@dataclass(frozen=True)
class Artifact:
    """A file of the package that is neither its VNFD, its metadata nor a software image
    (SOL005 ``additionalArtifacts``), with the checksum the package lists for it, if any."""

    path: str
    algorithm: str | None
    hash: str | None


def additional_artifacts(package: VnfPackage) -> tuple[Artifact, ...]:
    listed: dict[str, ListedFile] = {}
    for source in (package.meta, package.manifest):
        for entry in source.listed_files if source is not None else ():
            if entry.algorithm and entry.hash:
                listed[entry.path] = entry
    skip = {d.path for d in package.definitions if d.source == "package"}
    skip |= {n.image.artifact for n in image_needs(package) if n.image.artifact}
    if package.manifest is not None:
        skip.add(package.manifest.path)
    out = []
    for name in package.files:
        if name in skip or name.endswith("/") or name.startswith("TOSCA-Metadata/"):
            continue
        hit = listed.get(name)
        out.append(Artifact(name, hit.algorithm if hit else None, hit.hash if hit else None))
    return tuple(out)


def vnfd_files(source: Path | bytes, package: VnfPackage) -> dict[str, bytes]:
    """TOSCA.meta (if any) and the package's own VNFD files, by package path."""
    log = ProblemLog()
    files = open_package(source, log, CsarLimits())
    if files is None:
        raise InvalidPackage("the VNF package cannot be read", log.errors)
    wanted = [d.path for d in package.definitions if d.source == "package"]
    if package.meta is not None:
        wanted.insert(0, META_PATH)
    out: dict[str, bytes] = {}
    try:
        for name in wanted:
            try:
                data = read_bounded(files, name, MAX_VNFD_BYTES)
            except UnreadableEntry as exc:
                raise InvalidPackage(
                    "the VNF package changed since it was read", [Problem(name, str(exc))]
                ) from exc
            if data is not None:
                out[name] = data
    finally:
        files.close()
    return out


def vnfd_archive(source: Path | bytes, package: VnfPackage) -> bytes:
    """The VNFD files as a zip, the shape SOL005 gives for a multi-file VNFD."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in vnfd_files(source, package).items():
            archive.writestr(name, data)
    return buffer.getvalue()
