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
"""

from __future__ import annotations

from atoll.errors import (
    AtollError,
    Conflict,
    InvalidInput,
    NotFound,
    PermanentError,
    TemporaryError,
)


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
