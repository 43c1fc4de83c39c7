"""``atoll image upload|list|show|download|delete|prestage|transfers|repair|scrub``: the hub's
image service.

Registered into the ``image`` group by :func:`atoll.images.cli.register`. IMAGE is an image
id or a unique name. The hub is found like every client command: ``--url``/``--ca-file``,
then ``ATOLL_URL``/``ATOLL_TOKEN``/``ATOLL_CA_FILE``, then the saved ``atoll login``.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from pathlib import Path
from typing import Any

from atoll import ids
from atoll.client import HubClient, quote
from atoll.client.connection import add_connection_options, client
from atoll.errors import AtollError, Conflict, InvalidInput, NotFound, Problem
from atoll.output import add_format_option, emit

COLUMNS = ["id", "name", "status", "disk_format", "size", "visibility"]
TRANSFER_COLUMNS = ["site", "image_name", "state", "bytes_done", "bytes_total", "error"]
_QCOW2_MAGIC = b"QFI\xfb"
SCRUB_TIMEOUT = 6 * 3600.0


def register_client_commands(cmds: Any) -> None:
    """Add the client commands to the ``image`` group's subparsers."""
    upload = cmds.add_parser("upload", help="upload an image file to the hub (streamed)")
    upload.add_argument("file", metavar="FILE", type=Path)
    upload.add_argument("--name", required=True)
    upload.add_argument(
        "--disk-format",
        choices=("qcow2", "raw", "aki", "ari"),
        help="default: qcow2 if the file is one, else raw",
    )
    upload.add_argument("--container-format", default="bare")
    upload.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="min_ram=512, min_disk=1, cmdline='console=ttyS0', os_distro=...",
    )
    upload.add_argument("--public", action="store_true", help="visible to every project")
    upload.add_argument("--kernel", metavar="IMAGE", help="kernel image (sets kernel_id)")
    upload.add_argument("--ramdisk", metavar="IMAGE", help="ramdisk image (sets ramdisk_id)")
    upload.add_argument(
        "--no-checksum",
        action="store_true",
        help="do not hash the file first (the hub still hashes it)",
    )
    upload.set_defaults(func=_upload)
    listing = cmds.add_parser("list", help="list the images you may use")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show an image and its transfers to sites")
    show.add_argument("image", metavar="IMAGE")
    show.set_defaults(func=_show)
    download = cmds.add_parser("download", help="download an image's data (verified)")
    download.add_argument("image", metavar="IMAGE")
    download.add_argument("-o", "--output", type=Path, help="default: ./<name>")
    download.set_defaults(func=_download)
    delete = cmds.add_parser("delete", help="delete an image (refused while in use)")
    delete.add_argument("image", metavar="IMAGE")
    delete.set_defaults(func=_delete)
    prestage = cmds.add_parser("prestage", help="have sites pull an image ahead of deploys")
    prestage.add_argument("image", metavar="IMAGE")
    prestage.add_argument("--site", action="append", required=True, metavar="SITE")
    prestage.set_defaults(func=_prestage)
    transfers = cmds.add_parser("transfers", help="image transfers to sites and their progress")
    transfers.add_argument("--site")
    transfers.add_argument("--image", metavar="IMAGE")
    transfers.add_argument("--state", choices=("pending", "pulling", "done", "failed"))
    transfers.set_defaults(func=_transfers)
    repair = cmds.add_parser(
        "repair", help="upload a damaged image's own content again (repairs its chunks)"
    )
    repair.add_argument("image", metavar="IMAGE")
    repair.add_argument("file", metavar="FILE", type=Path)
    repair.set_defaults(func=_repair)
    scrub = cmds.add_parser(
        "scrub", help="check every chunk the hub stores now (system admins; reads them all)"
    )
    scrub.set_defaults(func=_scrub)
    everything = (upload, listing, show, download, delete, prestage, transfers, repair, scrub)
    for cmd in everything:
        add_connection_options(cmd)
    for cmd in (upload, listing, show, prestage, transfers, repair, scrub):
        add_format_option(cmd)


def _client(args: argparse.Namespace) -> HubClient:
    return client(args)


def resolve(client: HubClient, ref: str) -> str:
    """An image id from an id or a unique name."""
    if ids.is_id(ref):
        return ids.parse(ref)
    hits = client.list_all("/v1/images", {"name": ref})
    if not hits:
        raise NotFound(f"no image you may use is named {ref!r}")
    if len(hits) > 1:
        found = ", ".join(h["id"] for h in hits)
        raise Conflict(f"{len(hits)} images are named {ref!r} ({found}); give the id")
    return str(hits[0]["id"])


def parse_property(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise InvalidInput("a property is KEY=VALUE", [Problem(f"--property {text}", "no '='")])
    return key, int(raw) if raw.isascii() and raw.isdigit() and key.startswith("min_") else raw


def guess_format(path: Path) -> str:
    with path.open("rb") as fh:
        return "qcow2" if fh.read(4) == _QCOW2_MAGIC else "raw"


def _upload(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise NotFound(f"{path} is not a file")
    client = _client(args)
    properties = dict(parse_property(p) for p in args.property)
    if args.kernel:
        properties["kernel_id"] = resolve(client, args.kernel)
    if args.ramdisk:
        properties["ramdisk_id"] = resolve(client, args.ramdisk)
    body: dict[str, Any] = {
        "name": args.name,
        "disk_format": args.disk_format or guess_format(path),
        "container_format": args.container_format,
        "properties": properties,
    }
    if args.public:
        body["visibility"] = "public"
    emit(upload_file(client, path, body, checksum=not args.no_checksum), args.format)
    return 0


def upload_file(
    client: HubClient, path: Path, body: dict[str, Any], *, checksum: bool = True
) -> Any:
    """Create the image record ``body`` and stream ``path`` as its data (hashed first unless
    ``checksum`` is False, so the hub can refuse a file damaged on the way); the hub's
    record. A refused or failed upload deletes the record again and raises."""
    from atoll.images.hub_files import ProgressBar, file_sha256, send_file

    sha = file_sha256(path, ProgressBar(f"checksum {path.name}")) if checksum else None
    image = client.post("/v1/images", body)
    try:
        return send_file(
            client, image["id"], path, sha256=sha, progress=ProgressBar(f"upload {path.name}")
        )
    except AtollError:
        forget(client, image["id"])  # a killed record is of no use to anyone
        raise


def forget(client: HubClient, image_id: str) -> None:
    # the hub would show it killed; the upload's own error is what matters
    with contextlib.suppress(AtollError):
        client.delete(f"/v1/images/{image_id}")


def _list(args: argparse.Namespace) -> int:
    emit(_client(args).list_all("/v1/images"), args.format, COLUMNS)
    return 0


def _show(args: argparse.Namespace) -> int:
    client = _client(args)
    image_id = resolve(client, args.image)
    image = client.get(f"/v1/images/{image_id}")
    image["transfers"] = [
        {k: t[k] for k in ("site", "state", "bytes_done", "bytes_total", "error", "updated_at")}
        for t in client.list_all("/v1/image_transfers", {"image_id": image_id})
    ]
    emit(image, args.format)
    return 0


def _download(args: argparse.Namespace) -> int:
    from atoll.images.hub_files import ProgressBar, receive_file

    output: Path | None = args.output
    if output is not None and not output.parent.is_dir():
        raise NotFound(f"cannot write {output}: {output.parent} is not a directory")
    client = _client(args)
    image_id = resolve(client, args.image)
    image = client.get(f"/v1/images/{image_id}")
    dest = output or Path(re.sub(r"[^A-Za-z0-9._-]", "_", image["name"]) or image_id)
    sha = receive_file(client, image_id, dest, progress=ProgressBar("download"))
    print(f"downloaded image {image_id} to {dest} (sha256 {sha})")
    return 0


def _delete(args: argparse.Namespace) -> int:
    client = _client(args)
    image_id = resolve(client, args.image)
    client.delete(f"/v1/images/{quote(image_id)}")
    print(f"deleted image {image_id}")
    return 0


def _prestage(args: argparse.Namespace) -> int:
    client = _client(args)
    image_id = resolve(client, args.image)
    reply = client.post(f"/v1/images/{image_id}/prestage", {"sites": args.site})
    emit(reply["transfers"], args.format, TRANSFER_COLUMNS)
    return 0


def _repair(args: argparse.Namespace) -> int:
    """The hub takes the file only if it is the damaged image's own content (its checksum)."""
    from atoll.images.hub_files import ProgressBar, file_sha256, send_file

    client = _client(args)
    image_id = resolve(client, args.image)
    path: Path = args.file
    sha = file_sha256(path, ProgressBar(f"checksum {path.name}"))
    emit(send_file(client, image_id, path, sha256=sha, progress=ProgressBar(f"upload {path.name}")),
         args.format)  # fmt: skip
    return 0


def _scrub(args: argparse.Namespace) -> int:
    found = _client(args)
    # the hub answers when it has read every chunk: minutes on a big store
    client = HubClient(found.url, found.token, found.ca_file, timeout=SCRUB_TIMEOUT)
    emit(client.post("/v1/images/scrub", {}), args.format)
    return 0


def _transfers(args: argparse.Namespace) -> int:
    client = _client(args)
    query = {k: v for k, v in (("site", args.site), ("state", args.state)) if v}
    if args.image:
        query["image_id"] = resolve(client, args.image)
    emit(client.list_all("/v1/image_transfers", query), args.format, TRANSFER_COLUMNS)
    return 0
