"""Errors of the image service, on top of the shared tree in :mod:`atoll.errors`::

InvalidInput                       (atoll.errors)
├── ImageRejected                  validation refused the content (reasons in problems)
├── ChecksumMismatch               the declared sha256 is not the content's
└── TruncatedUpload                the stream ended before the declared size
    └── UploadStalled              no bytes arrived for the idle timeout (408)
PayloadTooLarge                    (atoll.errors)
└── ImageTooLarge                  size, chunk count or virtual size over a limit
NotFound                           (atoll.errors)
└── ChunkMissing                   a chunk a manifest names is not in the store
TemporaryError                     (atoll.errors)
├── TransferError                  a fetch from the hub failed; retrying resumes it
│   └── ChunkCorrupt               a chunk kept arriving with the wrong sha256
└── ChunkQuarantined               a stored chunk failed its sha256 and was moved aside;
                                   uploading the image's content again repairs it
PermanentError                     (atoll.errors)
└── ToolError                      qemu-img (or apt, mkisofs...) failed unexpectedly
Conflict                           (atoll.errors)
└── CacheFull                      the cache cannot make room: what is left is pinned
"""

from __future__ import annotations

from atoll.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermanentError,
    TemporaryError,
)


class ImageRejected(InvalidInput):
    code = "image_rejected"


class ChecksumMismatch(InvalidInput):
    code = "checksum_mismatch"


class TruncatedUpload(InvalidInput):
    code = "truncated_upload"


class UploadStalled(TruncatedUpload):
    code = "upload_stalled"
    http_status = 408


class ImageTooLarge(PayloadTooLarge):
    code = "image_too_large"


class ChunkMissing(NotFound):
    code = "chunk_missing"


class TransferError(TemporaryError):
    code = "transfer_failed"


class ChunkCorrupt(TransferError):
    code = "chunk_corrupt"


class LinkFailed(TransferError):
    """One request for a chunk failed on the way (cut, timed out, a 5xx or 429 answer): the
    fetcher asks again, then gives up with a TransferError."""

    code = "transfer_failed"


class ChunkQuarantined(TemporaryError):
    code = "chunk_quarantined"


class ToolError(PermanentError):
    code = "tool_failed"


class CacheFull(Conflict):
    code = "cache_full"
