"""What an uploaded image really is, and whether it may be stored.

``qemu-img info --output=json`` (under CPU and memory limits, the way Nova runs it) says the
real format and virtual size. The rules, each refusal naming its reason:

- the declared disk format must be one we know (``qcow2``, ``raw``, ``aki``, ``ari``) and
  must match the real one (``aki``/``ari``, kernel and ramdisk, are raw content);
- a qcow2 with a backing file or an external data file is refused: booting or converting it
  would read a file of the host (CVE-2022-47951 style; fixed in Glance and Nova). A small
  header parser checks this before qemu-img opens anything, and qemu-img's answer again;
- a qcow2 marked corrupt, or encrypted, is refused;
- the virtual size is bounded.

qemu-img looks at a *head file*: the first ``validate_head_bytes`` of the upload, extended
sparse to the full size (see :class:`~atoll.images.manifest.Ingest`). Format probes, qcow2
headers, backing file names and header extensions all live at the start of the image.
"""

from __future__ import annotations

import json
import logging
import resource
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atoll.errors import Problem
from atoll.images.errors import ImageRejected, ImageTooLarge, ToolError
from atoll.printable import escape

log = logging.getLogger(__name__)

DISK_FORMATS = ("qcow2", "raw", "aki", "ari")
_REAL_FORMAT = {"qcow2": "qcow2", "raw": "raw", "aki": "raw", "ari": "raw"}
_QCOW2_MAGIC = b"QFI\xfb"
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2
_QEMU_IMG_MEMORY = 1 << 30
_QEMU_IMG_CPU_SECONDS = 30


@dataclass(frozen=True)
class ImageInfo:
    disk_format: str  # as declared (and checked)
    real_format: str  # as qemu-img sees it
    virtual_size: int
    size: int


def check_disk_format(disk_format: str) -> str:
    if disk_format not in DISK_FORMATS:
        raise ImageRejected(
            "unknown disk format",
            [Problem("disk_format", f"{disk_format!r} is not one of {', '.join(DISK_FORMATS)}")],
        )
    return disk_format


def qcow2_header_problems(head: bytes) -> list[Problem]:
    """Backing file or external data file named in a qcow2 header (empty if not qcow2)."""
    if len(head) < 72 or head[:4] != _QCOW2_MAGIC:
        return []
    problems = []
    version, backing_offset, backing_size = struct.unpack(">IQI", head[4:20])
    if backing_offset or backing_size:
        name = head[backing_offset : backing_offset + min(backing_size, 1023)]
        problems.append(
            Problem(
                "content",
                f"qcow2 with a backing file ({_shown(name.decode('utf-8', 'replace'))}) is "
                "refused: it would read a host file",
            )
        )
    if version >= 3 and len(head) >= 80:
        (incompat,) = struct.unpack(">Q", head[72:80])
        if incompat & _QCOW2_INCOMPAT_DATA_FILE:
            problems.append(
                Problem(
                    "content",
                    "qcow2 with an external data file is refused: it would read a host file",
                )
            )
    return problems


def _shown(text: str) -> str:
    """Text taken from the image (a file name in its header, qemu-img's words about it) as a
    problem may quote it: control characters escaped, as the catalog stores reasons (its
    records refuse them, and a person reads them), and at most 200 characters."""
    shown = escape(text)
    return (shown[:200] + "...") if len(shown) > 200 else shown or "?"


def _limit_child() -> None:  # pragma: no cover (runs in the child)
    resource.setrlimit(resource.RLIMIT_AS, (_QEMU_IMG_MEMORY, _QEMU_IMG_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (_QEMU_IMG_CPU_SECONDS, _QEMU_IMG_CPU_SECONDS))


def qemu_img_info(path: Path) -> dict[str, Any]:
    """``qemu-img info --output=json`` with the format probed, under resource limits."""
    argv = ["qemu-img", "info", "--output=json", str(path)]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, preexec_fn=_limit_child
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"qemu-img info could not run on {path}: {exc}") from exc
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        raise ImageRejected("qemu-img cannot read the image", [Problem("content", _shown(said))])
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ToolError(f"qemu-img info printed something that is not JSON: {exc}") from exc
    if not isinstance(info, dict):
        raise ToolError("qemu-img info printed JSON that is not an object")
    return info


def _info_problems(info: dict[str, Any], disk_format: str) -> list[Problem]:
    problems = []
    real = _shown(str(info.get("format", "")))
    if real != _REAL_FORMAT[disk_format]:
        problems.append(
            Problem(
                "disk_format",
                f"declared {disk_format} but the content is {real}"
                + (
                    " (kernel and ramdisk images must be raw)"
                    if disk_format in ("aki", "ari")
                    else ""
                ),
            )
        )
    if info.get("backing-filename") or info.get("full-backing-filename"):
        problems.append(
            Problem(
                "content",
                f"qcow2 with a backing file ({_shown(str(info.get('backing-filename')))}) is "
                "refused: it would read a host file",
            )
        )
    specific = info.get("format-specific", {}).get("data", {}) or {}
    if specific.get("data-file"):
        problems.append(
            Problem(
                "content",
                f"qcow2 with an external data file ({_shown(str(specific['data-file']))}) is "
                "refused: it would read a host file",
            )
        )
    if specific.get("corrupt"):
        problems.append(Problem("content", "the qcow2 image is marked corrupt"))
    if info.get("encrypted") or specific.get("encrypt"):
        problems.append(Problem("content", "encrypted images are not supported"))
    return problems


def validate_image(
    head_path: Path, disk_format: str, *, size: int, max_virtual_size: int
) -> ImageInfo:
    """Check the head file of an upload; raise ImageRejected/ImageTooLarge with reasons."""
    check_disk_format(disk_format)
    with head_path.open("rb") as fh:
        header = fh.read(2 * 1024 * 1024)
    early = qcow2_header_problems(header)
    if early:
        raise ImageRejected("the image is refused", early)
    info = qemu_img_info(head_path)
    problems = _info_problems(info, disk_format)
    if problems:
        raise ImageRejected("the image is refused", problems)
    virtual = info.get("virtual-size")
    if type(virtual) is not int:
        raise ToolError("qemu-img info gave no virtual size")
    if virtual > max_virtual_size:
        raise ImageTooLarge(
            "the image's virtual size is too large",
            [Problem("virtual_size", f"{virtual} bytes is over the {max_virtual_size} limit")],
        )
    return ImageInfo(disk_format, str(info["format"]), virtual, size)
