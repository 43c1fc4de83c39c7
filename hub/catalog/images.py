"""Catalog images (store kind ``image``) and their per-site transfers (kind ``image_transfer``).

An image record is Glance-shaped: ``id`` (32 hex digits, also the store key), ``name`` (not
unique), ``project_id`` (the owning project's immutable id; ``project``, its name, is for
people; both null for images of the system scope), ``visibility`` (``private``: its project
only; ``public``: everyone; only system administrators publish),
``disk_format`` (qcow2|raw|aki|ari), ``container_format``, ``checksum_sha256`` and
``checksum_sha512`` (of the uploaded data: VNFDs declare either), ``size``,
``virtual_size``, ``status`` (``queued`` -> ``saving`` -> ``active``; a refused or cut upload
ends ``killed`` with ``status_reason``), ``properties`` (``kernel_id``/``ramdisk_id`` links,
``min_ram`` MiB, ``min_disk`` GiB, ``cmdline``...) and ``source`` (``upload`` or
``vnf_package:<id>`` when onboarding registered it). Records earlier hubs' VNF onboarding
wrote carry ``min_ram``/``min_disk`` at the top level and no ``properties``: they are read
into ``properties`` (and written back there), so an older hub sharing the store shows them
as before.

An image is *in use*, and cannot be deleted, while a VNF package's ``softwareImages`` names
it (``catalogImage``) or another image links it as its kernel or ramdisk.

A transfer record says one site should hold one image: key ``<site>:<image id>``, ``state``
``pending`` (prestaged, not picked up) -> ``pulling`` -> ``done`` | ``failed``, with
``bytes_done``/``bytes_total`` reported by the site as it pulls.

Records are read and written as :class:`Image` and :class:`Transfer`, typed models, at the
store edge (:meth:`Image.of`, :meth:`Image.to_wire`); fields a newer hub wrote ride along in
``extra`` through a read-modify-write. What a site is sent of an image is the shared
:class:`atoll.resources.ImageRef` (:meth:`Image.ref`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

from atoll.hub.identity.tenancy import owns
from atoll.hub.store.base import Record
from atoll.jsonbody import JSON
from atoll.resources import ImageRef, Model
from atoll.resources.compute import DiskFormat
from atoll.tokens import Claims

KIND = "image"
TRANSFER_KIND = "image_transfer"
PACKAGE_KIND = "vnf_package"
Status = Literal["queued", "saving", "active", "killed"]
Visibility = Literal["private", "public"]
TransferState = Literal["pending", "pulling", "done", "failed"]
STATUSES: tuple[Status, ...] = typing.get_args(Status)
VISIBILITIES: tuple[Visibility, ...] = typing.get_args(Visibility)
CONTAINER_FORMATS = ("bare", "ovf", "ova", "docker")
TRANSFER_STATES: tuple[TransferState, ...] = typing.get_args(TransferState)
LINKS = ("kernel_id", "ramdisk_id")
_TOP_LEVEL_PROPERTIES = ("min_ram", "min_disk")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Properties(Model):
    """An image's properties (Glance's): links to its kernel and ramdisk, what it needs to
    boot, what it is. Only those set are stored and shown. Bounds are the API's
    (``hub/api/image_shapes.py``, checked when an image is made); a record needs its types."""

    WHAT = "image properties"
    OMIT_NONE: ClassVar[bool] = True
    kernel_id: str | None = None
    ramdisk_id: str | None = None
    min_ram: int | None = None  # MiB
    min_disk: int | None = None  # GiB
    cmdline: str | None = None  # for a direct kernel boot
    os_distro: str | None = None
    os_version: str | None = None
    hw_firmware_type: Literal["bios", "uefi"] | None = None
    description: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class Image(Model):
    """An image as the catalog stores it (see the module docstring for each field)."""

    WHAT = "image"
    id: str
    name: str = ""
    project: str | None = None  # the owning project's name, for people
    project_id: str | None = None  # ... and its id (None: the system scope's)
    visibility: Visibility = "private"
    disk_format: str = "raw"  # one of DISK_FORMATS when uploaded; a VNF package's may differ
    container_format: str = "bare"
    checksum_sha256: str | None = None
    checksum_sha512: str | None = None
    size: int | None = None
    virtual_size: int | None = None
    status: Status = "active"
    status_reason: str = ""
    properties: Properties = dataclasses.field(default_factory=Properties)
    source: str = "upload"  # or vnf_package:<id>
    created_at: str = ""
    updated_at: str = ""
    # Chunks of an active image that failed their check (atoll.hub.catalog.image_integrity).
    damaged_chunks: int = 0

    @classmethod
    def of(cls, record: Record) -> Self:
        """The image a store record holds."""
        return cls.from_wire(record.value, where=f"image {record.key}")

    @classmethod
    def from_wire(cls, data: object, *, where: str = "", strict: bool = False) -> Self:
        """Also reads a record of earlier onboarding, ``min_ram``/``min_disk`` at its top."""
        if isinstance(data, Mapping) and any(k in data for k in _TOP_LEVEL_PROPERTIES):
            properties = data.get("properties")
            if properties is None or isinstance(properties, Mapping):
                moved = {k: data[k] for k in _TOP_LEVEL_PROPERTIES if k in data}
                rest = {k: v for k, v in data.items() if k not in _TOP_LEVEL_PROPERTIES}
                data = {**rest, "properties": {**moved, **(properties or {})}}
        return super().from_wire(data, where=where, strict=strict)

    def view(self) -> dict[str, Any]:
        """The record as the API shows it (every documented field present)."""
        return {
            "id": self.id,
            "name": self.name,
            "project": self.project,
            "project_id": self.project_id,
            "visibility": self.visibility,
            "disk_format": self.disk_format,
            "container_format": self.container_format,
            "checksum_sha256": self.checksum_sha256,
            "checksum_sha512": self.checksum_sha512,
            "size": self.size,
            "virtual_size": self.virtual_size,
            "status": self.status,
            "status_reason": self.status_reason,
            "properties": self.properties.to_wire(),
            "source": self.source,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
        }

    def ref(self) -> ImageRef:
        """The image as a site needs it: what to pull and how to check its bytes."""
        props = self.properties.to_wire()
        return ImageRef(
            id=self.id,
            name=self.name,
            # the site checks it: a VNF package may carry an image of any format
            disk_format=typing.cast(DiskFormat, self.disk_format),
            sha256=self.checksum_sha256,
            size=self.size,
            kernel_id=self.properties.kernel_id,
            ramdisk_id=self.properties.ramdisk_id,
            properties={k: v for k, v in props.items() if isinstance(v, str)},
        )

    def checksum(self, algorithm: str) -> str | None:
        """The checksum recorded by ``sha256`` or ``sha512`` (None: not recorded, or an
        algorithm the image service does not record)."""
        if algorithm == "sha256":
            return self.checksum_sha256
        if algorithm == "sha512":
            return self.checksum_sha512
        return None

    def links_to(self, image_id: str) -> str | None:
        """``kernel_id`` or ``ramdisk_id`` when this image links ``image_id`` that way."""
        for link in LINKS:
            if getattr(self.properties, link) == image_id:
                return link
        return None

    @property
    def damaged(self) -> bool:
        return self.damaged_chunks > 0


def visible(record: Record, claims: Claims) -> bool:
    """System callers see every image; project callers their project's and public ones.

    Read from the record's own fields, before it is loaded (:meth:`Image.of`): a caller
    loads only the images it may see, so no record of another project can fail its reads.
    """
    value = record.value
    return claims.system or value.get("visibility") == "public" or owns(claims, value)


def may_write(image: Image, claims: Claims) -> bool:
    """Only the owning project (or the system scope) changes, uploads or deletes an image."""
    return claims.system or _owns(claims, image)


def _owns(claims: Claims, image: Image) -> bool:
    return owns(claims, {"project_id": image.project_id})


def may_publish(claims: Claims) -> bool:
    """Public images are for system administrators only (Glance's publicize_image): a public
    image is offered to every project, and onboarding may bind other projects' packages to
    it, so a project admin publishing one could reach into other tenants."""
    return claims.system and "admin" in claims.roles


def new_image(
    image_id: str, body: JSON, project: str | None, project_id: str | None, now: str
) -> JSON:
    """The record of an image just created from a request ``body`` (queued, no data)."""
    image = Image(
        id=image_id,
        name=body["name"],
        project=project,
        project_id=project_id,
        visibility=body.get("visibility", "private"),
        disk_format=body["disk_format"],
        container_format=body.get("container_format", "bare"),
        status="queued",
        properties=Properties.from_wire(body.get("properties", {}), where="body.properties"),
        created_at=now,
        updated_at=now,
    )
    return image.to_wire()


def uses_by_package(package: Mapping[str, Any], image_id: str) -> bool:
    images = package.get("softwareImages") or []
    return any(isinstance(i, dict) and i.get("catalogImage") == image_id for i in images)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Transfer(Model):
    """One site's copy of one image, as the hub tracks it (key :func:`transfer_key`)."""

    WHAT = "image transfer"
    id: str  # the image id (one transfer per site and image)
    image_id: str
    image_name: str = ""
    site: str
    state: TransferState = "pending"
    bytes_done: int = 0
    bytes_total: int = 0
    error: str = ""
    requested_by: str = ""
    created_at: str = ""
    updated_at: str = ""

    @classmethod
    def of(cls, record: Record) -> Self:
        """The transfer a store record holds."""
        return cls.from_wire(record.value, where=f"image transfer {record.key}")

    @classmethod
    def new(cls, site: str, image: Image, requested_by: str, now: str) -> Self:
        """A pending transfer of ``image`` to ``site``."""
        return cls(
            id=image.id,
            image_id=image.id,
            image_name=image.name,
            site=site,
            bytes_total=image.size or 0,
            requested_by=requested_by,
            created_at=now,
            updated_at=now,
        )


def transfer_key(site: str, image_id: str) -> str:
    return f"{site}:{image_id}"
