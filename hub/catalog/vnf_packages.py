"""VNF packages in the catalog (SOL005 ``VnfPkgInfo``): states, the record, and its images.

A package belongs to one project. Its life (SOL005 section 9):

- ``onboardingState``: CREATED -> PROCESSING (content uploaded, being read) -> ONBOARDED, or
  ERROR with ``onboardingFailureDetails`` listing every problem. A package in CREATED or
  ERROR takes a (new) upload.
- ``operationalState``: DISABLED until onboarded, then ENABLED; users switch it.
- ``usageState``: NOT_IN_USE until the lifecycle instantiates from it.
- A package is deleted only when DISABLED and NOT_IN_USE.

Images (``softwareImages``): every ``sw_image_data`` of the VNFD needs a catalog image
(store kind ``image``). One the package carries is registered from it; one it does not is
found by the upload's image map (node -> image id or name), then by SHA-256 checksum, then
by name, among the active images the project may use (its own and public ones). A node
left without one fails onboarding, saying which node and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from atoll import ids
from atoll.errors import Conflict, Problem
from atoll.nfv.artifacts import ImageNeed
from atoll.nfv.model import VnfPackage
from atoll.nfv.summary import summarize_flavour

KIND = "vnf_package"
IMAGE_KIND = "image"

CREATED, PROCESSING, ONBOARDED, ERROR = "CREATED", "PROCESSING", "ONBOARDED", "ERROR"
ONBOARDING_STATES = (CREATED, PROCESSING, ONBOARDED, ERROR)
ENABLED, DISABLED = "ENABLED", "DISABLED"
IN_USE, NOT_IN_USE = "IN_USE", "NOT_IN_USE"
GIB, MIB = 1024**3, 1024**2

JSON = dict[str, Any]


def new_package(package_id: str, project: str, user_data: JSON, now: str) -> JSON:
    """The record of a package just created (no content yet)."""
    return {
        "id": package_id,
        "project": project,
        "onboardingState": CREATED,
        "operationalState": DISABLED,
        "usageState": NOT_IN_USE,
        "userDefinedData": user_data,
        "vnfdId": None,
        "vnfProvider": None,
        "vnfProductName": None,
        "vnfSoftwareVersion": None,
        "vnfdVersion": None,
        "checksum": None,
        "size": None,
        "softwareImages": [],
        "flavours": [],
        "warnings": [],
        "onboardingFailureDetails": None,
        "createdAt": now,
        "updatedAt": now,
    }


def visible(package: JSON, project: str | None, system: bool) -> bool:
    return system or (project is not None and package.get("project") == project)


def check_uploadable(package: JSON) -> None:
    state = package["onboardingState"]
    if state not in (CREATED, ERROR):
        raise Conflict(
            f"VNF package {package['id']} is {state}: content is uploaded once (to a CREATED "
            "package, or again after ERROR); create a new package for new content"
        )


def check_deletable(package: JSON) -> None:
    problems = []
    if package["onboardingState"] == PROCESSING:
        problems.append("it is being onboarded (wait for ONBOARDED or ERROR)")
    if package["operationalState"] != DISABLED:
        problems.append("it is ENABLED (disable it first: atoll vnf package disable ID)")
    if package["usageState"] != NOT_IN_USE:
        problems.append("it is IN_USE by VNF instances (terminate them first)")
    if problems:
        raise Conflict(f"VNF package {package['id']} cannot be deleted: " + "; ".join(problems))


def check_state_change(package: JSON, wanted: str) -> None:
    if wanted == ENABLED and package["onboardingState"] != ONBOARDED:
        raise Conflict(
            f"VNF package {package['id']} is {package['onboardingState']}: only an ONBOARDED "
            "package can be ENABLED"
        )


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
        "onboardingFailureDetails": None,
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


def problem_list(problems: Iterable[Problem]) -> list[JSON]:
    return [{"where": p.where, "what": p.what} for p in problems]


@dataclass(frozen=True)
class CarriedImage:
    """An image file inside the package, hashed and sized while onboarding."""

    path: str
    sha256: str
    size: int


def software_image(need: ImageNeed, catalog_image: JSON) -> JSON:
    """SOL005 ``VnfPackageSoftwareImageInfo`` for one node, with the catalog image it uses."""
    image = need.image
    return {
        "id": need.node,
        "flavourId": need.flavour,
        "name": image.name,
        "provider": "",
        "version": image.version,
        "checksum": {"algorithm": image.checksum.algorithm, "hash": image.checksum.hash},
        "containerFormat": image.container_format,
        "diskFormat": image.disk_format,
        "minDisk": math.ceil(image.min_disk_bytes / GIB),
        "minRam": math.ceil((image.min_ram_bytes or 0) / MIB),
        "size": image.size_bytes,
        "imagePath": image.artifact or "",
        "carried": need.carried,
        "catalogImage": catalog_image["id"],
    }


def carried_image_record(
    need: ImageNeed, carried: CarriedImage, project: str, package_id: str, now: str
) -> JSON:
    """A catalog image record for an image file the package carries."""
    image = need.image
    return {
        "id": ids.hub_id(),
        "name": image.name,
        "project": project,
        "visibility": "private",
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "checksum_sha256": carried.sha256,
        "size": carried.size,
        "status": "active",
        "source": f"vnf_package:{package_id}",
        "min_disk": math.ceil(image.min_disk_bytes / GIB),
        "min_ram": math.ceil((image.min_ram_bytes or 0) / MIB),
        "created_at": now,
    }


def image_usable(image: JSON, project: str) -> bool:
    """An active catalog image the project may use (its own, or public)."""
    mine = image.get("visibility") == "public" or image.get("project") == project
    return mine and image.get("status", "active") == "active"


def _sha256_of(need: ImageNeed) -> str | None:
    checksum = need.image.checksum
    algorithm = checksum.algorithm.lower().replace("-", "").replace("_", "")
    return checksum.hash.lower() if algorithm == "sha256" else None


def find_image(
    need: ImageNeed, images: list[JSON], image_map: Mapping[str, str]
) -> tuple[JSON | None, Problem | None]:
    """The catalog image for a node the package does not carry the image of, or why none."""
    where = f"flavour {need.flavour}: {need.node}.sw_image_data"
    wanted = image_map.get(need.node)
    if wanted is not None:
        hits = [i for i in images if i["id"] == wanted] or [
            i for i in images if i.get("name") == wanted
        ]
        if len(hits) == 1:
            return hits[0], None
        what = "no" if not hits else f"{len(hits)}"
        return None, Problem(
            f"image_map.{need.node}",
            f"{what} catalog images you may use have the id or name {wanted!r}; "
            "give the id of one image",
        )
    sha256 = _sha256_of(need)
    by_checksum = [i for i in images if sha256 and i.get("checksum_sha256") == sha256]
    if by_checksum:
        return by_checksum[0], None
    by_name = [i for i in images if i.get("name") == need.image.name]
    if len(by_name) == 1:
        return by_name[0], None
    if len(by_name) > 1:
        return None, Problem(
            where,
            f"{len(by_name)} catalog images are named {need.image.name!r}; choose one with "
            f"--image-map {need.node}=IMAGE_ID",
        )
    checksum = need.image.checksum
    return None, Problem(
        where,
        f"{need.node} has no image: the package does not carry {need.image.name!r} "
        f"({checksum.algorithm} {checksum.hash[:16]}...) and no catalog image you may use "
        f"matches its name or SHA-256 (active images only); upload the image to the catalog named "
        f"{need.image.name!r}, or pass --image-map {need.node}=IMAGE",
    )


def unknown_map_entries(image_map: Mapping[str, str], needs: Iterable[ImageNeed]) -> list[Problem]:
    nodes = {n.node for n in needs}
    return [
        Problem(f"image_map.{node}", f"the VNFD has no VDU or storage {node} with an image")
        for node in image_map
        if node not in nodes
    ]
