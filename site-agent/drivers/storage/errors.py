"""Errors of the storage driver. Every one is a :class:`StorageError`; the second base says
what a caller can do, so the reconciler decides retry and log level from the type::

    StorageError                                      code                 http  retry?
    ├── InvalidStorageRequest (InvalidInput)          invalid_storage      400   no
    │   └── ChecksumMismatch                          checksum_mismatch    400   no: fetch again
    ├── StorageNotFound       (NotFound)              storage_not_found    404   no
    ├── StorageConflict       (Conflict)              storage_conflict     409   no: exists with
    │   │                                                                        other content, or
    │   │                                                                        still in use
    │   └── InsufficientSpace                         insufficient_space   507   after freeing space
    │       └── ImageCacheFull                        image_cache_full     507   after servers using
    │                                                                            cached images go
    ├── StorageTemporary      (TemporaryError)        storage_temporary    503   yes, after delay
    └── StoragePermanent      (PermanentError)        storage_permanent    500   no: qemu-img or
                                                                                 the disk failed

:func:`translate` is the one place a failed qemu-img run, or an image
:mod:`atoll.images.validate` refused, becomes one of these. Its messages name what the
driver was doing and qemu-img's reason, never a host path: they reach API clients (an
upload's answer) and the hub (a server's status message).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from atoll.errors import (
    AtollError,
    Conflict,
    InvalidInput,
    NotFound,
    PermanentError,
    TemporaryError,
)
from atoll.images.validate import qemu_img_reason


class StorageError(AtollError):
    """Base of every storage driver error (never raised bare)."""

    code = "storage"


class InvalidStorageRequest(StorageError, InvalidInput):
    code = "invalid_storage"


class ChecksumMismatch(InvalidStorageRequest):
    """An image file's sha256 is not the one it was announced with."""

    code = "checksum_mismatch"


class StorageNotFound(StorageError, NotFound):
    code = "storage_not_found"


class StorageConflict(StorageError, Conflict):
    code = "storage_conflict"


class InsufficientSpace(StorageConflict):
    """The request would exceed the site's storage capacity."""

    code = "insufficient_space"
    http_status = 507


class ImageCacheFull(InsufficientSpace):
    """An image does not fit under the image cache's cap, even after evicting every image
    no server uses (nothing was added and nothing evicted)."""

    code = "image_cache_full"


class StorageTemporary(StorageError, TemporaryError):
    code = "storage_temporary"


class StoragePermanent(StorageError, PermanentError):
    code = "storage_permanent"


def translate(exc: Exception, purpose: str) -> StorageError:
    """A :class:`StorageError` for ``exc``, whose message starts with ``purpose``.

    - a qemu-img run that failed (``CalledProcessError``, with its ``stderr``): a lock held
      by a running QEMU is ``StorageConflict`` (the image is in use), anything else
      ``StoragePermanent`` with qemu-img's reason, every path cut to its file name;
    - one that timed out, or could not start: ``StoragePermanent``;
    - an image :mod:`atoll.images.validate` refused (``InvalidInput``, with its problems):
      ``InvalidStorageRequest``, the caller's to fix; its ``ToolError``: ``StoragePermanent``.
    """
    if isinstance(exc, subprocess.CalledProcessError):
        given = [Path(arg) for arg in exc.cmd if isinstance(arg, str) and arg.startswith("/")]
        reason = qemu_img_reason(exc.stderr or "", given) or f"exit status {exc.returncode}"
        if "lock" in reason.lower():
            return StorageConflict(f"{purpose}: the image is in use by a running guest ({reason})")
        return StoragePermanent(f"{purpose}: {reason}")
    if isinstance(exc, subprocess.TimeoutExpired):
        return StoragePermanent(f"{purpose}: qemu-img took longer than {exc.timeout:.0f} s")
    if isinstance(exc, InvalidInput):
        return InvalidStorageRequest(f"{purpose}: {exc.summary}", exc.problems)
    if isinstance(exc, AtollError):
        return StoragePermanent(f"{purpose}: {exc.message}")
    if isinstance(exc, OSError):
        return StoragePermanent(f"{purpose}: qemu-img cannot run: {exc.strerror or exc}")
    return StoragePermanent(f"{purpose}: {type(exc).__name__}")
