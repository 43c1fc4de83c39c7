"""``atoll image build-reference OUT_DIR --register``: the reference image on the hub.

Two linked images, as Glance links a kernel and its ramdisk: the initramfs first, disk
format ``ari``; then the kernel, disk format ``aki``, whose ``ramdisk_id`` property names the
initramfs image and whose ``cmdline`` property is the command line to boot it with
(:data:`~atoll.images.reference.builder.CMDLINE`). Names are
``<prefix>-initramfs-<kernel version>`` and ``<prefix>-kernel-<kernel version>``.

Registering again reuses an active image of the same name, checksum, format and links
instead of uploading a duplicate (so a name keeps resolving to one image). If the kernel's
upload fails, an initramfs uploaded by this run is deleted again: nothing half-registered.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atoll.client import HubClient
from atoll.errors import AtollError
from atoll.images.client_cli import forget, upload_file
from atoll.images.hub_files import ProgressBar, file_sha256
from atoll.images.reference.builder import ReferenceImage

DEFAULT_PREFIX = "atoll-reference"


@dataclass(frozen=True)
class Registered:
    kernel_image_id: str
    ramdisk_image_id: str
    kernel_name: str
    ramdisk_name: str
    reused: bool  # both were on the hub already: nothing was uploaded

    def to_json(self) -> dict[str, object]:
        return {
            "kernel_image_id": self.kernel_image_id,
            "ramdisk_image_id": self.ramdisk_image_id,
            "kernel_image_name": self.kernel_name,
            "ramdisk_image_name": self.ramdisk_name,
            "reused": self.reused,
        }


def register_reference(
    client: HubClient,
    image: ReferenceImage,
    *,
    name_prefix: str = DEFAULT_PREFIX,
    public: bool = False,
) -> Registered:
    """Upload (or find) the initramfs and the kernel linked to it; their ids."""
    version = image.kernel_version
    ramdisk_name = f"{name_prefix}-initramfs-{version}"
    kernel_name = f"{name_prefix}-kernel-{version}"
    common: dict[str, Any] = {"container_format": "bare"}
    if public:
        common["visibility"] = "public"
    ramdisk_props = {"os_distro": "debian", "description": "atoll reference VNF initramfs"}
    ramdisk_id, ramdisk_new = _ensure(
        client,
        image.initramfs,
        {**common, "name": ramdisk_name, "disk_format": "ari", "properties": ramdisk_props},
        public,
    )
    kernel_props = {
        "ramdisk_id": ramdisk_id,
        "cmdline": image.cmdline,
        "os_distro": "debian",
        "os_version": version,
        "description": "atoll reference VNF kernel (boot it with its ramdisk_id and cmdline)",
    }
    try:
        kernel_id, kernel_new = _ensure(
            client,
            image.kernel,
            {**common, "name": kernel_name, "disk_format": "aki", "properties": kernel_props},
            public,
        )
    except AtollError:
        if ramdisk_new:
            forget(client, ramdisk_id)
        raise
    return Registered(
        kernel_id, ramdisk_id, kernel_name, ramdisk_name, not (ramdisk_new or kernel_new)
    )


def _ensure(client: HubClient, path: Path, body: dict[str, Any], public: bool) -> tuple[str, bool]:
    """The id of an image like ``body`` with ``path``'s data, and whether it was uploaded."""
    sha = file_sha256(path, ProgressBar(f"checksum {path.name}"))
    for hit in client.list_all("/v1/images", {"name": body["name"]}):
        if _same(hit, body, sha, public):
            return str(hit["id"]), False
    try:
        record = upload_file(client, path, body, checksum=True)
    except AtollError as exc:  # say which of the two files the hub refused
        exc.message = f"uploading {path} as image {body['name']}: {exc.message}"
        exc.args = (exc.message,)
        raise
    return str(record["id"]), True


def _same(hit: dict[str, Any], body: dict[str, Any], sha: str, public: bool) -> bool:
    props = hit.get("properties") or {}
    with contextlib.suppress(KeyError):
        return (
            hit["status"] == "active"
            and hit["checksum_sha256"] == sha
            and hit["disk_format"] == body["disk_format"]
            and (hit["visibility"] == "public" or not public)
            and all(props.get(k) == v for k, v in body["properties"].items())
        )
    return False
