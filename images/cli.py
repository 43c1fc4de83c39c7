"""``atoll image ...`` commands this package provides (the hub CLI adds upload, list...).

- ``atoll image build-reference OUT_DIR [--cache-dir D] [--register [--public]
  [--name-prefix P]]``: the reference VNF kernel and initramfs, from Debian packages
  (cached, so a rebuild takes seconds); ``--register`` uploads both to the hub as linked
  images (kernel ``aki`` with ``ramdisk_id`` and ``cmdline``, initramfs ``ari``);
- ``atoll image validate FILE --disk-format F``: what the hub would say about an upload
  (format, virtual size, refusal reasons), without uploading.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from atoll.cli import Subparsers
from atoll.client.connection import add_connection_options
from atoll.images.settings import ImageSettings
from atoll.output import add_format_option, emit
from atoll.settings import load


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("image", help="images: hub catalog, distribution, reference VNF")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    build = cmds.add_parser(
        "build-reference",
        help="build the reference VNF image (kernel + initramfs) from Debian packages",
    )
    build.add_argument("out_dir", metavar="OUT_DIR", type=Path)
    build.add_argument(
        "--cache-dir", type=Path, default=None, help="downloaded .debs and builds (a setting)"
    )
    build.add_argument(
        "--refresh", action="store_true", help="ask apt for the current kernel package again"
    )
    build.add_argument(
        "--register",
        action="store_true",
        help="upload both to the hub as linked images (kernel aki -> initramfs ari)",
    )
    build.add_argument("--public", action="store_true", help="with --register: for every project")
    build.add_argument(
        "--name-prefix",
        default="atoll-reference",
        help="with --register: images are PREFIX-kernel-VERSION, PREFIX-initramfs-VERSION",
    )
    add_connection_options(build)
    add_format_option(build)
    build.set_defaults(func=_build_reference)
    check = cmds.add_parser("validate", help="check an image file as the hub would on upload")
    check.add_argument("file", metavar="FILE", type=Path)
    check.add_argument("--disk-format", required=True, help="qcow2, raw, aki or ari")
    add_format_option(check)
    check.set_defaults(func=_validate)
    from atoll.images.client_cli import register_client_commands

    register_client_commands(cmds)  # upload, list, show, download, delete, prestage, transfers


def _settings(args: argparse.Namespace) -> ImageSettings:
    flags = {"reference_cache_dir": getattr(args, "cache_dir", None)}
    return load(ImageSettings, "images", flags=flags)


def _build_reference(args: argparse.Namespace) -> int:
    from atoll.images.reference.builder import build_reference

    settings = _settings(args)
    image = build_reference(args.out_dir, settings.reference_cache_dir, refresh=args.refresh)
    out = image.to_json()
    if args.register:
        from atoll.client.connection import client
        from atoll.images.reference.register import register_reference

        registered = register_reference(
            client(args), image, name_prefix=args.name_prefix, public=args.public
        )
        out.update(registered.to_json())
    emit(out, args.format)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from atoll.errors import NotFound
    from atoll.images.chunks import ChunkStore
    from atoll.images.manifest import read_file_blocks
    from atoll.images.upload import ingest_image

    settings = _settings(args)
    if not args.file.is_file():
        raise NotFound(f"{args.file} is not a file")
    with tempfile.TemporaryDirectory(prefix="atoll-validate-") as tmp:
        store = ChunkStore(Path(tmp), settings.chunk_size, fsync=False)
        with args.file.open("rb") as fh:
            result = asyncio.run(
                ingest_image(read_file_blocks(fh), store, settings, disk_format=args.disk_format)
            )
    emit(result.to_json(), args.format)
    return 0
