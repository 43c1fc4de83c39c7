"""``atoll vnf package upload|list|show|delete|enable|disable|vnfd``: packages at the hub.

``upload PATH`` zips an unpacked package directory on the fly (a ``.csar``/``.zip`` file is
sent as it is), creates a package in the logged-in project, streams the content to
``PUT /vnfpkgm/v1/vnf_packages/{id}/package_content`` (``--image-map VDU=IMAGE`` becomes
``?image_map=VDU=IMAGE``), waits for ONBOARDED or ERROR and prints the package, or every
problem with exit code 1. Only the atoll core (``atoll.client``) is used to reach the hub.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from atoll.client import HubClient, quote
from atoll.client.connection import add_connection_options, client
from atoll.errors import AtollError, InvalidInput, Problem
from atoll.output import add_format_option, emit
from atoll.printable import escape

BASE = "/vnfpkgm/v1/vnf_packages"
COLUMNS = ["id", "vnfProductName", "vnfSoftwareVersion", "onboardingState", "operationalState"]
SHOWN = (
    "id",
    "project",
    "onboardingState",
    "operationalState",
    "usageState",
    "vnfdId",
    "vnfProvider",
    "vnfProductName",
    "vnfSoftwareVersion",
    "vnfdVersion",
    "size",
)


def add_commands(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the hub commands to ``atoll vnf package``."""
    upload = cmds.add_parser("upload", help="onboard a package at the hub (waits for the result)")
    upload.add_argument("path", type=Path, help="a .csar/.zip file or an unpacked package")
    upload.add_argument(
        "--image-map",
        action="append",
        default=[],
        metavar="VDU=IMAGE",
        help="catalog image (id or name) for a VDU or storage whose image is not in the package",
    )
    upload.add_argument("--wait", type=float, default=600, help="seconds to wait for onboarding")
    upload.set_defaults(func=_upload)
    listing = cmds.add_parser("list", help="list your project's packages")
    listing.set_defaults(func=_list)
    commands = [upload, listing]
    for name, func, text in (
        ("show", _show, "show a package"),
        ("delete", _delete, "delete a package (disable it first)"),
        ("enable", _enable, "enable an onboarded package"),
        ("disable", _disable, "disable a package"),
    ):
        cmd = cmds.add_parser(name, help=text)
        cmd.add_argument("id", help="the package id")
        cmd.set_defaults(func=func)
        commands.append(cmd)
    vnfd = cmds.add_parser("vnfd", help="fetch a package's VNFD (YAML, or a zip of its files)")
    vnfd.add_argument("id", help="the package id")
    vnfd.add_argument("--output", "-o", type=Path, help="write it here (default: stdout)")
    vnfd.set_defaults(func=_vnfd)
    commands.append(vnfd)
    for cmd in commands:
        add_connection_options(cmd)
        if cmd.get_default("func") not in (_delete, _vnfd):  # these print no record
            add_format_option(cmd)


def _client(args: argparse.Namespace) -> HubClient:
    return client(args)


def put_content(
    client: HubClient, package_id: str, body: BinaryIO, size: int, image_map: list[str]
) -> None:
    """Stream a CSAR to the hub (the body is read from ``body``, never held whole)."""
    query = [("image_map", entry) for entry in image_map]
    headers = {"Content-Type": "application/zip", "Content-Length": str(size)}
    path = f"{BASE}/{quote(package_id)}/package_content"
    client.open("PUT", path, raw=body, query=query, headers=headers, timeout=600).close()


def get_vnfd(client: HubClient, package_id: str) -> tuple[bytes, str]:
    headers = {"Accept": "text/plain, application/zip"}
    reply = client.request("GET", f"{BASE}/{quote(package_id)}/vnfd", headers=headers)
    media = reply.headers.get("Content-Type", "").split(";")[0].strip()
    return reply.raw, media


def zip_directory(root: Path, target: BinaryIO) -> None:
    """An unpacked package as a CSAR (paths relative to ``root``, TOSCA-Metadata at the top)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())


def _check_map(entries: list[str]) -> None:
    bad = [e for e in entries if "=" not in e or e.startswith("=") or e.endswith("=")]
    if bad:
        raise InvalidInput(
            "--image-map takes VDU=IMAGE",
            [Problem(f"--image-map {e}", "no VDU=IMAGE") for e in bad],
        )


def _upload(args: argparse.Namespace) -> int:
    path: Path = args.path
    if not path.exists():
        raise InvalidInput(f"{path} does not exist: give a .csar/.zip file or a package directory")
    _check_map(args.image_map)
    client = _client(args)
    with tempfile.TemporaryFile() as spool:
        if path.is_dir():
            zip_directory(path, spool)
            source: BinaryIO = spool
        else:
            source = path.open("rb")
        try:
            size = source.seek(0, 2)
            source.seek(0)
            package = client.post(BASE, {"userDefinedData": {"source": path.name}})
            put_content(client, package["id"], source, size, args.image_map)
        finally:
            if source is not spool:
                source.close()
    result = _wait(client, package["id"], args.wait)
    return _report(result, args.format)


def _wait(client: HubClient, package_id: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    delay = 0.1
    while True:
        package: dict[str, Any] = client.get(f"{BASE}/{quote(package_id)}")
        if package["onboardingState"] in ("ONBOARDED", "ERROR"):
            return package
        if time.monotonic() > deadline:
            raise AtollError(
                f"package {package_id} is still {package['onboardingState']} after "
                f"{seconds:g}s; check later with 'atoll vnf package show {package_id}'"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def _report(package: dict[str, Any], fmt: str) -> int:
    failed = package["onboardingState"] == "ERROR"
    if fmt == "json":
        emit(package, fmt)
        return 1 if failed else 0
    if failed:
        details = package["onboardingFailureDetails"] or {}
        problems = [Problem(p["where"], p["what"]) for p in details.get("problems", [])]
        raise InvalidInput(
            f"VNF package {package['id']} failed onboarding: {details.get('detail', '')}",
            problems,
        )
    _print(package, fmt)
    return 0


def _print(package: dict[str, Any], fmt: str) -> None:
    """json and yaml: the whole package; table, csv and value: its summary (``-c`` picks),
    with ``failure`` saying why onboarding failed (empty unless ERROR)."""
    if fmt in ("json", "yaml"):
        emit(package, fmt)
        return
    row: dict[str, Any] = {}
    for k in SHOWN:
        row[k] = package.get(k)
        if k == "onboardingState":  # why it is ERROR, where -f json says it
            row["failure"] = _failure(package.get("onboardingFailureDetails"))
    row["images"] = ", ".join(
        f"{i['id']}={i['catalogImage']}" for i in package.get("softwareImages", [])
    )
    row["flavours"] = ", ".join(f["id"] for f in package.get("flavours", []))
    emit(row, fmt)


def _failure(details: dict[str, Any] | None) -> str | None:
    """An onboarding failure in one line: its detail, then each problem (where: what)."""
    if not details:
        return None
    problems = [f"{p.get('where')}: {p.get('what')}" for p in details.get("problems", [])]
    return "; ".join([str(details.get("detail", "")), *problems])


def _list(args: argparse.Namespace) -> int:
    items = _client(args).list_linked(BASE)
    emit(
        items if args.format == "json" else [{k: i.get(k) for k in COLUMNS} for i in items],
        args.format,
        COLUMNS,
    )
    return 0


def _show(args: argparse.Namespace) -> int:
    _print(_client(args).get(f"{BASE}/{quote(args.id)}"), args.format)
    return 0


def _set_state(args: argparse.Namespace, state: str) -> int:
    client = _client(args)
    path = f"{BASE}/{quote(args.id)}"
    current = client.request("GET", path)
    etag = current.headers.get("ETag")
    changes = client.patch(path, {"operationalState": state}, if_match=etag)  # SOL005: changes
    _print({**current.data, **changes}, args.format)
    return 0


def _enable(args: argparse.Namespace) -> int:
    return _set_state(args, "ENABLED")


def _disable(args: argparse.Namespace) -> int:
    return _set_state(args, "DISABLED")


def _delete(args: argparse.Namespace) -> int:
    _client(args).delete(f"{BASE}/{quote(args.id)}")
    print(f"deleted VNF package {args.id}")
    return 0


def _vnfd(args: argparse.Namespace) -> int:
    data, media = get_vnfd(_client(args), args.id)
    output: Path | None = args.output
    if output is not None:
        output.write_bytes(data)
        kind = "YAML" if media == "text/plain" else "zip"
        print(f"wrote the VNFD ({kind}, {len(data)} bytes) to {output}", file=sys.stderr)
    elif media == "text/plain":
        sys.stdout.write(escape(data.decode("utf-8", errors="replace"), keep="\n\t"))
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0
