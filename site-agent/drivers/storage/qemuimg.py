"""Running qemu-img to make and change disks (blocking: callers run these off the event loop).

A failure becomes the storage error :func:`~.errors.translate` makes of it: named for the
command's purpose, with qemu-img's reason and no host path. What an image *is* (format,
backing file, virtual size) is :mod:`atoll.images.validate`'s to say, for the hub and the
site alike.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from atoll.site_agent.drivers.storage.base import ImageFormat
from atoll.site_agent.drivers.storage.errors import translate


def run(args: list[str], purpose: str, timeout: float) -> str:
    argv = ["qemu-img", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        raise translate(exc, purpose) from exc
    return done.stdout


def create_overlay(
    path: Path, backing: Path, backing_format: ImageFormat, size: int | None, timeout: float
) -> None:
    args = ["create", "-q", "-f", "qcow2", "-F", backing_format, "-b", str(backing), str(path)]
    if size is not None:
        args.append(str(size))
    run(args, f"creating overlay {path.name} on {backing.name}", timeout)


def create_blank(path: Path, size: int, timeout: float) -> None:
    run(["create", "-q", "-f", "qcow2", str(path), str(size)], f"creating {path.name}", timeout)


def copy(source: Path, target: Path, timeout: float) -> None:
    """A standalone qcow2 copy of ``source`` (no backing file)."""
    args = ["convert", "-q", "-O", "qcow2", str(source), str(target)]
    run(args, f"copying {source.name} to {target.name}", timeout)


def resize(path: Path, size: int, timeout: float) -> None:
    run(["resize", "-q", str(path), str(size)], f"resizing {path.name} to {size} bytes", timeout)
