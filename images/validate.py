"""What an uploaded image really is, and whether it may be stored.

``qemu-img info --output=json`` (under CPU and memory limits, the way Nova runs it) says the
real format and virtual size. The rules, each refusal naming its reason:

- the declared disk format must be one we know (``qcow2``, ``raw``, ``aki``, ``ari``) and
  must match the real one (``aki``/``ari``, kernel and ramdisk, are raw content);
- a qcow2 with a backing file or an external data file is refused: booting or converting it
  would read a file of the host (CVE-2022-47951 style; fixed in Glance and Nova). A small
  header parser checks this before qemu-img opens anything, and qemu-img's answer again;
- a qcow2 marked corrupt, or encrypted, is refused;
- a file with the qcow2 magic whose header version is not 2 or 3 is refused before qemu-img
  reads it: qemu would take version 0 for raw (where a header parser sees qcow2), and
  refuses any other;
- the virtual size is bounded: what a qcow2 header claims before qemu-img runs
  (:func:`check_header`, which needs no qemu-img), what qemu-img reads again.

What qemu-img says when it cannot read an image is passed on (:func:`qemu_img_reason`) with
every absolute path cut to its file name: a refusal goes to a client, and where a server
keeps its files is none of the client's business.

qemu-img looks at a *head file*: the first ``validate_head_bytes`` of the upload, extended
sparse to the full size (see :class:`~atoll.images.manifest.Ingest`). Format probes, qcow2
headers, backing file names and header extensions all live at the start of the image.
"""

from __future__ import annotations

import json
import logging
import re
import resource
import struct
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atoll import host_paths
from atoll.errors import Problem
from atoll.images.errors import ImageRejected, ImageTooLarge, ToolError
from atoll.printable import escape

log = logging.getLogger(__name__)

DISK_FORMATS = ("qcow2", "raw", "aki", "ari")
_REAL_FORMAT = {"qcow2": "qcow2", "raw": "raw", "aki": "raw", "ari": "raw"}
_QCOW2_MAGIC = b"QFI\xfb"
QCOW2_VERSIONS = (2, 3)  # what qemu reads as qcow2 (1 is qcow; 0 it probes as raw)
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
    """A qcow2 header version qemu does not read as qcow2, or a backing file or external
    data file named in the header (empty if ``head`` has no qcow2 magic)."""
    if len(head) < 72 or head[:4] != _QCOW2_MAGIC:
        return []
    problems = []
    version, backing_offset, backing_size = struct.unpack(">IQI", head[4:20])
    if version not in QCOW2_VERSIONS:
        return [
            Problem(
                "content",
                f"the qcow2 header says version {version}: only versions "
                f"{' and '.join(map(str, QCOW2_VERSIONS))} are qcow2 images",
            )
        ]
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


_QEMU_IMG_PREFIX = re.compile(r"^(?:qemu-img: )?(?:Could not open '[^']*': )?")


def qemu_img_reason(stderr: str, paths: Iterable[Path] = ()) -> str:
    """What qemu-img printed when it failed, in one line without a host path: each line
    without qemu-img's own ``qemu-img: Could not open 'FILE':`` preamble, and every path
    cut to its file name (:func:`atoll.host_paths.cut`: ``paths``, the files qemu-img was
    given, even with a space in them; then anything else that looks like an absolute path).
    Empty if it said nothing."""
    given = list(paths)
    lines = []
    for line in stderr.splitlines():
        line = host_paths.cut(_QEMU_IMG_PREFIX.sub("", line.strip()), given)
        if line:
            lines.append(line)
    return "; ".join(lines)


def qemu_img_info(path: Path) -> dict[str, Any]:
    """``qemu-img info --output=json`` with the format probed, under resource limits."""
    argv = ["qemu-img", "info", "--output=json", str(path)]
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, preexec_fn=_limit_child
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"qemu-img info took longer than {exc.timeout:.0f} s") from exc
    except OSError as exc:
        raise ToolError(f"qemu-img info could not run: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        said = qemu_img_reason(proc.stderr, [path]) or "no reason given"
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


def _check_virtual_size(virtual: int, max_virtual_size: int) -> None:
    if virtual > max_virtual_size:
        raise ImageTooLarge(
            "the image's virtual size is too large",
            [Problem("virtual_size", f"{virtual} bytes is over the {max_virtual_size} limit")],
        )


def check_header(head: bytes, *, max_virtual_size: int) -> None:
    """What the first bytes of an image say against it, before qemu-img opens it: the
    problems :func:`qcow2_header_problems` finds (ImageRejected), or a qcow2 header that
    claims a virtual size over ``max_virtual_size`` (ImageTooLarge)."""
    early = qcow2_header_problems(head)
    if early:
        raise ImageRejected("the image is refused", early)
    if len(head) >= 32 and head[:4] == _QCOW2_MAGIC:
        (claimed,) = struct.unpack(">Q", head[24:32])
        _check_virtual_size(claimed, max_virtual_size)


def validate_image(
    head_path: Path, disk_format: str, *, size: int, max_virtual_size: int
) -> ImageInfo:
    """Check the head file of an upload; raise ImageRejected/ImageTooLarge with reasons."""
    check_disk_format(disk_format)
    with head_path.open("rb") as fh:
        header = fh.read(2 * 1024 * 1024)
    check_header(header, max_virtual_size=max_virtual_size)
    info = qemu_img_info(head_path)
    problems = _info_problems(info, disk_format)
    if problems:
        raise ImageRejected("the image is refused", problems)
    virtual = info.get("virtual-size")
    if type(virtual) is not int:
        raise ToolError("qemu-img info gave no virtual size")
    _check_virtual_size(virtual, max_virtual_size)
    return ImageInfo(disk_format, str(info["format"]), virtual, size)
