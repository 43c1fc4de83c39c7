"""Running qemu-img (blocking: callers run these off the event loop).

Failures become storage errors that name the command's purpose and carry qemu-img's own
message; an image locked by a running QEMU becomes ``StorageConflict`` (it is in use),
anything else ``StoragePermanent``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from atoll.site_agent.drivers.storage.base import ImageFormat
from atoll.site_agent.drivers.storage.errors import StorageConflict, StoragePermanent


def run(args: list[str], purpose: str, timeout: float) -> str:
    argv = ["qemu-img", *args]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise StoragePermanent(f"{purpose}: qemu-img took longer than {timeout:.0f} s") from exc
    except OSError as exc:
        raise StoragePermanent(f"{purpose}: qemu-img cannot run: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.strip() or f"exit status {done.returncode}"
        if "lock" in message.lower():
            raise StorageConflict(f"{purpose}: the image is in use by a running guest ({message})")
        raise StoragePermanent(f"{purpose}: {message}")
    return done.stdout


def info(path: Path, purpose: str, timeout: float) -> dict[str, Any]:
    """``qemu-img info --output=json`` (format probed by qemu-img)."""
    text = run(["info", "--output=json", "-U", str(path)], purpose, timeout)
    result: dict[str, Any] = json.loads(text)
    return result


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
