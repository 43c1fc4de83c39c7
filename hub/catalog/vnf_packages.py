"""VNF packages in the catalog (SOL005 ``VnfPkgInfo``): states, the record
(:class:`PackageRecord`), and its images.

A package belongs to one project. Its life (SOL005 section 9):

- ``onboardingState``: CREATED -> PROCESSING (content uploaded, being read) -> ONBOARDED, or
  ERROR with ``onboardingFailureDetails`` listing every problem. A package in CREATED or
  ERROR takes a (new) upload.
- ``operationalState``: DISABLED until onboarded, then ENABLED; users switch it.
- ``usageState``: NOT_IN_USE until the lifecycle instantiates from it.
- A package is deleted only when DISABLED and NOT_IN_USE.

Images (``softwareImages``): every ``sw_image_data`` of the VNFD needs a catalog image
(store kind ``image``). One the package carries is registered from it, with the SHA-256 and
SHA-512 computed while the package was read (``load_package`` refuses a package whose
carried image does not have the checksum its VNFD declares, or the hash its manifest
lists). One it does not carry is found among the active images the project may use (its
own and public ones): by the upload's image map (node -> image id or name), else by the
checksum the VNFD declares (sha-256 or sha-512, which the image service records for every
upload: the sha-512 moments after it, which onboarding waits for, bounded; a node left
without an image because of one still being computed says so), the project's own image
before a public one. When the VNFD declares a checksum, an
image is bound only if its checksum matches, mapped or not: a name is never enough, so an
image someone else named like the one a VNFD wants is never substituted. Only a VNFD
declaring no checksum is matched by name. A node left without an image fails onboarding,
saying which node, what did not match and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from atoll import ids
from atoll.errors import Conflict, Problem
from atoll.hub.catalog.images import Image, Properties
from atoll.hub.identity.tenancy import owns
from atoll.jsonbody import JSON
from atoll.nfv.artifacts import ImageNeed
from atoll.nfv.digests import FileDigest
from atoll.nfv.model import VnfPackage
from atoll.nfv.summary import summarize_flavour
from atoll.tokens import Claims

KIND = "vnf_package"
IMAGE_KIND = "image"

CREATED, PROCESSING, ONBOARDED, ERROR = "CREATED", "PROCESSING", "ONBOARDED", "ERROR"
ONBOARDING_STATES = (CREATED, PROCESSING, ONBOARDED, ERROR)
ENABLED, DISABLED = "ENABLED", "DISABLED"
IN_USE, NOT_IN_USE = "IN_USE", "NOT_IN_USE"
# SOL004 security options (SOL005 packageSecurityOption): the manifest signed; the CSAR
OPTION_1, OPTION_2 = "OPTION_1", "OPTION_2"
GIB, MIB = 1024**3, 1024**2
CATALOG_DIGESTS = ("sha256", "sha512")  # what a catalog image records of its bits
LATER_DIGESTS = ("sha512",)  # recorded moments after an upload (atoll.hub.catalog.image_sha512)
STILL_COMPUTED = (
    "is still being computed (the hub that stored the image hashes it just after the "
    "upload); upload the package again in a moment"
)


@dataclass(frozen=True)
class PackageRecord:
    """A package's record (store kind ``vnf_package``), typed. The store keeps JSON with
    SOL005's camelCase names, which the API shows as they are (less the private
    ``_imageMap``/``_vnfdFiles``); code reads it with :meth:`from_value`, changes it with
    :func:`dataclasses.replace` or :meth:`changed`, and writes :meth:`to_value`. Fields this
    hub does not name (a newer hub's, over a shared store) ride along in ``extra``."""

    id: str
    project: str
    project_id: str
    onboarding_state: str = CREATED
    operational_state: str = DISABLED
    usage_state: str = NOT_IN_USE
    user_defined_data: Mapping[str, Any] = field(default_factory=dict)
    vnfd_id: str | None = None
    vnf_provider: str | None = None
    vnf_product_name: str | None = None
    vnf_software_version: str | None = None
    vnfd_version: str | None = None
    checksum: Mapping[str, str] | None = None  # of the uploaded CSAR
    size: int | None = None
    software_images: tuple[JSON, ...] = ()
    additional_artifacts: tuple[JSON, ...] = ()
    flavours: tuple[JSON, ...] = ()
    warnings: tuple[JSON, ...] = ()
    signature: JSON | None = None  # which signatures verified at onboarding, who signed
    package_security_option: str | None = None  # SOL005's: OPTION_1, OPTION_2 (or None)
    onboarding_failure_details: JSON | None = None
    created_at: str = ""
    updated_at: str = ""
    image_map: Mapping[str, str] = field(default_factory=dict)  # the upload's, for a restart
    vnfd_files: tuple[str, ...] = ()  # the package's own VNFD files
    extra: Mapping[str, Any] = field(default_factory=dict)  # fields this hub does not know

    @classmethod
    def from_value(cls, value: Mapping[str, Any]) -> PackageRecord:
        known = {
            key: _decode(key, value[wire]) for wire, key in _ATTRIBUTE.items() if wire in value
        }
        extra = {k: v for k, v in value.items() if k not in _ATTRIBUTE}
        return cls(**known, extra=extra)

    def to_value(self) -> JSON:
        out: JSON = dict(self.extra)
        for wire, key in _ATTRIBUTE.items():
            item = getattr(self, key)
            out[wire] = list(item) if isinstance(item, tuple) else item
        return out

    def changed(self, changes: Mapping[str, Any]) -> PackageRecord:
        """This record with ``changes`` (wire names, as onboarding writes them) applied."""
        return PackageRecord.from_value({**self.to_value(), **changes})

    def visible_to(self, claims: Claims) -> bool:
        return claims.system or owns(claims, {"project_id": self.project_id})

    def check_uploadable(self) -> None:
        if self.onboarding_state not in (CREATED, ERROR):
            raise Conflict(
                f"VNF package {self.id} is {self.onboarding_state}: content is uploaded once "
                "(to a CREATED package, or again after ERROR); create a new package for new "
                "content"
            )

    def check_deletable(self) -> None:
        problems = []
        if self.onboarding_state == PROCESSING:
            problems.append("it is being onboarded (wait for ONBOARDED or ERROR)")
        if self.operational_state != DISABLED:
            problems.append("it is ENABLED (disable it first: atoll vnf package disable ID)")
        if self.usage_state != NOT_IN_USE:
            problems.append("it is IN_USE by VNF instances (terminate them first)")
        if problems:
            raise Conflict(f"VNF package {self.id} cannot be deleted: " + "; ".join(problems))

    def check_state_change(self, wanted: str) -> None:
        if wanted == ENABLED and self.onboarding_state != ONBOARDED:
            raise Conflict(
                f"VNF package {self.id} is {self.onboarding_state}: only an ONBOARDED package "
                "can be ENABLED"
            )


def _wire(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# wire name -> attribute; the ids keep their snake_case, the private fields their underscore
_ATTRIBUTE: dict[str, str] = {
    ("project_id" if f.name == "project_id" else _wire(f.name)): f.name
    for f in fields(PackageRecord)
    if f.name not in ("extra", "image_map", "vnfd_files")
} | {"_imageMap": "image_map", "_vnfdFiles": "vnfd_files"}
_TUPLES = {"software_images", "additional_artifacts", "flavours", "warnings", "vnfd_files"}


def _decode(key: str, value: Any) -> Any:
    if key in _TUPLES:
        return tuple(value or ())
    if key in ("user_defined_data", "image_map"):
        return dict(value or {})
    return value


def new_package(package_id: str, project: str, project_id: str, user_data: JSON, now: str) -> JSON:
    """The record of a package just created (no content yet)."""
    record = PackageRecord(
        package_id, project, project_id, user_defined_data=user_data, created_at=now, updated_at=now
    )
    return record.to_value()


def onboarded_fields(package: VnfPackage, images: list[JSON]) -> JSON:
    """What onboarding adds to the record of a package that was read successfully."""
    vnfd = package.vnfd
    return {
        "onboardingState": ONBOARDED,
        "operationalState": ENABLED,
        "vnfdId": vnfd.descriptor_id,
        "vnfProvider": vnfd.provider,
        "vnfProductName": vnfd.product_name,
        "vnfSoftwareVersion": vnfd.software_version,
        "vnfdVersion": vnfd.descriptor_version,
        "softwareImages": images,
        "flavours": [summarize_flavour(f) for f in vnfd.flavours],
        "warnings": problem_list(package.warnings),
        "signature": signature_info(package),
        "packageSecurityOption": security_option(package),
        "onboardingFailureDetails": None,
    }


def security_option(package: VnfPackage) -> str | None:
    """SOL005's ``packageSecurityOption``: OPTION_2 when the package came as a zip with the
    CSAR's signature and it verified, else OPTION_1 when the manifest's did; None when
    neither was (an unsigned package, or ``vnf_package_signature = off``). ``signature``
    lists both when both held."""
    if package.csar_signature is not None:
        return OPTION_2
    return OPTION_1 if package.signature is not None else None


def signature_info(package: VnfPackage) -> JSON | None:
    """The record's ``signature``: the SOL004 security options whose signature verified at
    onboarding (:mod:`.vnf_package_signature`); the package's signer (the CSAR's, else the
    manifest's: None when only artifacts are signed), its issuer and until when its
    certificate is valid; the manifest and the CSAR whose signature held; and every
    signature that held, artifacts' included. None for a package onboarded with no
    signature, or unchecked."""
    held = [
        (kind, found)
        for kind, found in (
            ("csar", package.csar_signature),
            ("manifest", package.signature),
            *(("artifact", artifact) for artifact in package.artifact_signatures),
        )
        if found is not None
    ]
    if not held:
        return None
    signer = package.csar_signature or package.signature
    options = [OPTION_1] if package.signature is not None else []
    return {
        "options": options + ([OPTION_2] if package.csar_signature is not None else []),
        "signer": signer.signer if signer is not None else None,
        "issuer": signer.issuer if signer is not None else None,
        "notAfter": signer.not_after if signer is not None else None,
        "manifest": package.signature.path if package.signature is not None else None,
        "csar": package.csar_signature.path if package.csar_signature is not None else None,
        "signatures": [
            {
                "kind": kind,
                "path": found.path,
                "signer": found.signer,
                "issuer": found.issuer,
                "notAfter": found.not_after,
            }
            for kind, found in held
        ],
    }


def failure_fields(summary: str, problems: Iterable[Problem], status: int = 422) -> JSON:
    """The record of a package whose onboarding failed: a ProblemDetails with every problem."""
    return {
        "onboardingState": ERROR,
        "operationalState": DISABLED,
        "onboardingFailureDetails": {
            "title": "VNF package onboarding failed",
            "status": status,
            "detail": summary,
            "problems": problem_list(problems),
        },
    }


_ALGORITHMS = {"sha224": "SHA-224", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


def sol005_checksum(checksum: Mapping[str, str]) -> JSON:
    """A checksum as SOL005 (and Tacker) spell it: ``{"algorithm": "SHA-256", "hash": hex}``,
    whatever the VNFD or the manifest wrote (``sha-256``, ``SHA256``...)."""
    name = checksum["algorithm"]
    algorithm = _ALGORITHMS.get(name.lower().replace("-", "").replace("_", ""), name.upper())
    return {"algorithm": algorithm, "hash": checksum["hash"].lower()}


def artifact_info(path: str, algorithm: str, hash_: str) -> JSON:
    """SOL005 ``VnfPackageArtifactInfo`` of one additional artifact."""
    return {
        "artifactPath": path,
        "checksum": sol005_checksum({"algorithm": algorithm, "hash": hash_}),
    }


def problem_list(problems: Iterable[Problem]) -> list[JSON]:
    return [{"where": p.where, "what": p.what} for p in problems]


def software_image(need: ImageNeed, catalog_image: str) -> JSON:
    """SOL005 ``VnfPackageSoftwareImageInfo`` for one node, with the catalog image it uses."""
    image = need.image
    return {
        "id": need.node,
        "flavourId": need.flavour,
        "name": image.name,
        "provider": "",
        "version": image.version,
        "checksum": sol005_checksum(
            {"algorithm": image.checksum.algorithm, "hash": image.checksum.hash}
        ),
        "containerFormat": image.container_format,
        "diskFormat": image.disk_format,
        "minDisk": math.ceil(image.min_disk_bytes / GIB),
        "minRam": math.ceil((image.min_ram_bytes or 0) / MIB),
        "size": image.size_bytes,
        "imagePath": image.artifact or "",
        "carried": need.carried,
        "catalogImage": catalog_image,
    }


def carried_image_record(
    need: ImageNeed, carried: FileDigest, owner: tuple[str, str], package_id: str, now: str
) -> Image:
    """A catalog image for an image file the package carries: ``carried`` is what reading the
    package computed of it (:data:`CATALOG_DIGESTS`), in the pass that checked it has the
    checksum its VNFD declares."""
    image = need.image
    return Image(
        id=ids.hub_id(),
        name=image.name,
        project=owner[0],
        project_id=owner[1],
        visibility="private",
        disk_format=image.disk_format,
        container_format=image.container_format,
        checksum_sha256=carried.hexdigests["sha256"],
        checksum_sha512=carried.hexdigests["sha512"],
        size=carried.size,
        status="active",
        properties=Properties(
            min_ram=math.ceil((image.min_ram_bytes or 0) / MIB),
            min_disk=math.ceil(image.min_disk_bytes / GIB),
        ),
        source=f"vnf_package:{package_id}",
        created_at=now,
        updated_at=now,
    )


def image_usable(image: Image, project_id: str) -> bool:
    """An active catalog image the project may use (its own, or public)."""
    mine = image.visibility == "public" or image.project_id == project_id
    return mine and image.status == "active"


@dataclass(frozen=True)
class Declared:
    """The checksum a VNFD declares for an image, by the name the image service records it
    under (``sha256``/``sha512``, :meth:`Image.checksum`)."""

    algorithm: str  # as the VNFD spells it
    hash: str
    recorded: str  # normalized: sha256, sha512, or one the image service does not record

    def matches(self, image: Image) -> bool:
        return image.checksum(self.recorded) == self.hash

    def recorded_in(self, image: Image) -> bool:
        return bool(image.checksum(self.recorded))

    @property
    def computed_later(self) -> bool:
        """The image service records this checksum after the upload, not in it."""
        return self.recorded in LATER_DIGESTS

    def mismatch(self, image: Image) -> str:
        have = image.checksum(self.recorded)
        got = f"{have[:16]}..." if have else "no such checksum recorded"
        if not have and self.computed_later:
            got = f"its {self.algorithm} {STILL_COMPUTED}"
        return (
            f"the VNFD declares {self.algorithm} {self.hash[:16]}... and image {image.id} "
            f"does not match it ({got})"
        )


def declared_checksum(need: ImageNeed) -> Declared | None:
    checksum = need.image.checksum
    if not checksum.hash:
        return None
    algorithm = checksum.algorithm.lower().replace("-", "").replace("_", "")
    return Declared(checksum.algorithm, checksum.hash.lower(), algorithm)


def find_image(
    need: ImageNeed, images: list[Image], image_map: Mapping[str, str], project_id: str
) -> tuple[Image | None, Problem | None]:
    """The catalog image for a node the package does not carry the image of, or why none.

    ``images`` are those the project may use; ``project_id``'s own come before public ones.
    """
    where = f"flavour {need.flavour}: {need.node}.sw_image_data"
    declared = declared_checksum(need)
    wanted = image_map.get(need.node)
    if wanted is not None:
        hits = [i for i in images if i.id == wanted] or [i for i in images if i.name == wanted]
        if len(hits) != 1:
            what = "no" if not hits else f"{len(hits)}"
            return None, Problem(
                f"image_map.{need.node}",
                f"{what} catalog images you may use have the id or name {wanted!r}; "
                "give the id of one image",
            )
        if declared is not None and not declared.matches(hits[0]):
            return None, Problem(
                f"image_map.{need.node}",
                f"{need.node}: {declared.mismatch(hits[0])}; map an image with that checksum",
            )
        return hits[0], None
    if declared is not None:
        matching = sorted(
            (i for i in images if declared.matches(i)),
            key=lambda i: i.project_id != project_id,  # the project's own first
        )
        if matching:
            return matching[0], None
        return None, Problem(
            where,
            f"{need.node} has no image: the package does not carry {need.image.name!r} and no "
            f"catalog image you may use has the {declared.algorithm} the VNFD declares "
            f"({declared.hash[:16]}...; active images only, and a name alone is not "
            f"enough); upload that image to the catalog, or pass --image-map {need.node}=IMAGE "
            "naming one whose checksum matches" + _pending(declared, images),
        )
    by_name = [i for i in images if i.name == need.image.name]
    if len(by_name) == 1:
        return by_name[0], None
    if len(by_name) > 1:
        return None, Problem(
            where,
            f"{len(by_name)} catalog images are named {need.image.name!r}; choose one with "
            f"--image-map {need.node}=IMAGE_ID",
        )
    return None, Problem(
        where,
        f"{need.node} has no image: the package does not carry {need.image.name!r} and no "
        f"catalog image you may use is named so (active images only); upload the image to "
        f"the catalog named {need.image.name!r}, or pass --image-map {need.node}=IMAGE",
    )


def _pending(declared: Declared, images: list[Image]) -> str:
    """What to add when some of ``images`` have no such checksum yet, only later."""
    pending = [i.id for i in images if declared.computed_later and not declared.recorded_in(i)]
    if not pending:
        return ""
    which = ", ".join(pending[:3]) + (f" and {len(pending) - 3} more" if len(pending) > 3 else "")
    return f"; the {declared.algorithm} of image {which} {STILL_COMPUTED}"


def waits_for_later_digest(needs: Iterable[ImageNeed]) -> bool:
    """Some node the package does not carry the image of declares a checksum the image
    service records only after an upload (:data:`LATER_DIGESTS`): onboarding waits for it."""
    for need in needs:
        declared = declared_checksum(need)
        carried = need.carried and need.image.artifact
        if not carried and declared is not None and declared.computed_later:
            return True
    return False


def unknown_map_entries(image_map: Mapping[str, str], needs: Iterable[ImageNeed]) -> list[Problem]:
    nodes = {n.node for n in needs}
    return [
        Problem(f"image_map.{node}", f"the VNFD has no VDU or storage {node} with an image")
        for node in image_map
        if node not in nodes
    ]
