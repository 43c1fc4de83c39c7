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
``vnf_package:<id>`` when onboarding registered it). Records written by VNF onboarding may
carry ``min_ram``/``min_disk`` at the top level and no ``properties``: :func:`view` folds them.

An image is *in use*, and cannot be deleted, while a VNF package's ``softwareImages`` names
it (``catalogImage``) or another image links it as its kernel or ramdisk.

A transfer record says one site should hold one image: key ``<site>:<image id>``, ``state``
``pending`` (prestaged, not picked up) -> ``pulling`` -> ``done`` | ``failed``, with
``bytes_done``/``bytes_total`` reported by the site as it pulls.
"""

from __future__ import annotations

from typing import Any

from atoll.hub.identity.tenancy import owns
from atoll.jsonbody import JSON
from atoll.tokens import Claims

KIND = "image"
TRANSFER_KIND = "image_transfer"
PACKAGE_KIND = "vnf_package"
STATUSES = ("queued", "saving", "active", "killed")
VISIBILITIES = ("private", "public")
CONTAINER_FORMATS = ("bare", "ovf", "ova", "docker")
TRANSFER_STATES = ("pending", "pulling", "done", "failed")
LINKS = ("kernel_id", "ramdisk_id")
_TOP_LEVEL_PROPERTIES = ("min_ram", "min_disk")


def visible(image: JSON, claims: Claims) -> bool:
    """System callers see every image; project callers their project's and public ones."""
    return claims.system or image.get("visibility") == "public" or owns(claims, image)


def may_write(image: JSON, claims: Claims) -> bool:
    """Only the owning project (or the system scope) changes, uploads or deletes an image."""
    return claims.system or owns(claims, image)


def may_publish(claims: Claims) -> bool:
    """Public images are for system administrators only (Glance's publicize_image): a public
    image is offered to every project, and onboarding may bind other projects' packages to
    it, so a project admin publishing one could reach into other tenants."""
    return claims.system and "admin" in claims.roles


def new_image(
    image_id: str, body: JSON, project: str | None, project_id: str | None, now: str
) -> JSON:
    return {
        "id": image_id,
        "name": body["name"],
        "project": project,
        "project_id": project_id,
        "visibility": body.get("visibility", "private"),
        "disk_format": body["disk_format"],
        "container_format": body.get("container_format", "bare"),
        "checksum_sha256": None,
        "checksum_sha512": None,
        "size": None,
        "virtual_size": None,
        "status": "queued",
        "status_reason": "",
        "properties": dict(body.get("properties", {})),
        "source": "upload",
        "created_at": now,
        "updated_at": now,
    }


def view(image: JSON) -> dict[str, Any]:
    """The record as the API shows it (every documented field present)."""
    properties = dict(image.get("properties") or {})
    for key in _TOP_LEVEL_PROPERTIES:
        if key in image and key not in properties:
            properties[key] = image[key]
    return {
        "id": image["id"],
        "name": image.get("name", ""),
        "project": image.get("project"),
        "project_id": image.get("project_id"),
        "visibility": image.get("visibility", "private"),
        "disk_format": image.get("disk_format", "raw"),
        "container_format": image.get("container_format", "bare"),
        "checksum_sha256": image.get("checksum_sha256"),
        "checksum_sha512": image.get("checksum_sha512"),
        "size": image.get("size"),
        "virtual_size": image.get("virtual_size"),
        "status": image.get("status", "active"),
        "status_reason": image.get("status_reason", ""),
        "properties": properties,
        "source": image.get("source", "upload"),
        "created_at": image.get("created_at", ""),
        "updated_at": image.get("updated_at", image.get("created_at", "")),
    }


def uses_by_package(package: JSON, image_id: str) -> bool:
    images = package.get("softwareImages") or []
    return any(isinstance(i, dict) and i.get("catalogImage") == image_id for i in images)


def links_to(image: JSON, image_id: str) -> str | None:
    """``kernel_id`` or ``ramdisk_id`` when ``image`` links ``image_id`` that way."""
    properties = image.get("properties") or {}
    for link in LINKS:
        if properties.get(link) == image_id:
            return link
    return None


def transfer_key(site: str, image_id: str) -> str:
    return f"{site}:{image_id}"


def new_transfer(site: str, image: JSON, requested_by: str, now: str) -> JSON:
    return {
        "id": image["id"],
        "image_id": image["id"],
        "image_name": image.get("name", ""),
        "site": site,
        "state": "pending",
        "bytes_done": 0,
        "bytes_total": image.get("size") or 0,
        "error": "",
        "requested_by": requested_by,
        "created_at": now,
        "updated_at": now,
    }
