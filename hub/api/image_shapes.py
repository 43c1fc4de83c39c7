"""Request and response shapes of ``/v1/images`` and the image transfers."""

from __future__ import annotations

from atoll import ids
from atoll.api.schema import NAME_HELP, NAME_PATTERN, Field, Shape, text_field
from atoll.hub.catalog import images as catalog
from atoll.images.validate import DISK_FORMATS

SHA256_PATTERN = r"^[0-9a-f]{64}$"
IMAGE_ID = Field(
    "string",
    required=True,
    description="an image id (32 hex digits)",
    pattern=ids.PATTERN,
    pattern_help=ids.HELP,
)
LINK = Field(
    "string", description="id of a kernel/ramdisk image", pattern=ids.PATTERN, pattern_help=ids.HELP
)
PROPERTIES = Shape(
    "ImageProperties",
    {
        "kernel_id": LINK,
        "ramdisk_id": LINK,
        "min_ram": Field("integer", minimum=0, maximum=4 * 1024 * 1024, description="MiB"),
        "min_disk": Field("integer", minimum=0, maximum=65536, description="GiB"),
        "cmdline": text_field("kernel command line for direct kernel boot", 1024),
        "os_distro": text_field("operating system, e.g. debian", 64),
        "os_version": text_field("operating system version", 64),
        "hw_firmware_type": Field("string", enum=("bios", "uefi")),
        "description": text_field("what the image is"),
    },
)
IMAGE = Shape(
    "Image",
    {
        "id": Field("string", required=True),
        "name": Field("string", required=True),
        "project": Field("string", required=True, nullable=True),
        "project_id": Field("string", required=True, nullable=True),
        "visibility": Field("string", required=True, enum=catalog.VISIBILITIES),
        "disk_format": Field("string", required=True),
        "container_format": Field("string", required=True),
        "checksum_sha256": Field("string", required=True, nullable=True),
        "checksum_sha512": Field(
            "string",
            required=True,
            nullable=True,
            description="null until the hub has computed it, moments after the upload",
        ),
        "size": Field("integer", required=True, nullable=True),
        "virtual_size": Field("integer", required=True, nullable=True),
        "status": Field("string", required=True, enum=catalog.STATUSES),
        "status_reason": Field("string", required=True),
        "properties": Field("object", required=True),
        "source": Field("string", required=True),
        "created_at": Field("string", required=True),
        "updated_at": Field("string", required=True),
    },
)
IMAGE_CREATE = Shape(
    "ImageCreate",
    {
        "name": text_field("the image's name (need not be unique)", 255, required=True),
        "disk_format": Field("string", required=True, enum=DISK_FORMATS),
        "container_format": Field("string", enum=catalog.CONTAINER_FORMATS),
        "visibility": Field(
            "string",
            enum=catalog.VISIBILITIES,
            description="default private; public needs an admin role",
        ),
        "properties": Field("object", shape=PROPERTIES),
    },
)
IMAGE_FILTERS = {
    "name": Field("string", max_length=255, description="only images with this name"),
    "status": Field("string", enum=catalog.STATUSES),
    "visibility": Field("string", enum=catalog.VISIBILITIES),
}
SITE_NAME = Field(
    "string",
    pattern=NAME_PATTERN,
    pattern_help=NAME_HELP,
    min_length=1,
    max_length=63,
    description="a site name",
)
PRESTAGE = Shape(
    "ImagePrestage",
    {
        "sites": Field(
            "array",
            required=True,
            items=SITE_NAME,
            max_items=1000,
            unique_items=True,
            description="sites that should pull the image now",
        )
    },
)
TRANSFER = Shape(
    "ImageTransfer",
    {
        "id": Field("string", required=True, description="the image id (one per site)"),
        "image_id": Field("string", required=True),
        "image_name": Field("string", required=True),
        "site": Field("string", required=True),
        "state": Field("string", required=True, enum=catalog.TRANSFER_STATES),
        "bytes_done": Field("integer", required=True),
        "bytes_total": Field("integer", required=True),
        "error": Field("string", required=True),
        "requested_by": Field("string", required=True),
        "created_at": Field("string", required=True),
        "updated_at": Field("string", required=True),
    },
)
PRESTAGE_REPLY = Shape(
    "ImagePrestageReply", {"transfers": Field("array", required=True, items=Field("object"))}
)
TRANSFER_UPDATE = Shape(
    "ImageTransferUpdate",
    {
        "state": Field("string", required=True, enum=catalog.TRANSFER_STATES),
        "bytes_done": Field("integer", minimum=0, maximum=2**62),
        "bytes_total": Field("integer", minimum=0, maximum=2**62),
        "error": text_field("why the pull failed", 1024),
    },
)
TRANSFER_FILTERS = {
    "site": SITE_NAME,
    "image_id": Field("string", pattern=ids.PATTERN, pattern_help=ids.HELP),
    "state": Field("string", enum=catalog.TRANSFER_STATES),
}
STATE_FILTER = {"state": Field("string", enum=catalog.TRANSFER_STATES)}
MANIFEST = Shape(
    "ImageManifest",
    {
        "version": Field("integer", required=True),
        "sha256": Field("string", required=True),
        "size": Field("integer", required=True),
        "chunk_size": Field("integer", required=True),
        "chunks": Field("array", required=True, items=Field("string")),
    },
)

SCRUB_REPORT = Shape(
    "ImageScrubReport",
    {
        "checked_chunks": Field("integer", required=True),
        "corrupt_chunks": Field("integer", required=True, description="quarantined now"),
        "damaged_images": Field(
            "array",
            required=True,
            items=Field("string"),
            description="ids of images missing chunks (marked in their status_reason)",
        ),
    },
)
