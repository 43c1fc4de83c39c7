"""An upload, start to finish: stream -> chunks + manifest -> validation -> result.

Nothing about the image becomes visible here: the caller records the manifest (and the
catalog entry) only when :func:`ingest_image` returns. On any refusal the chunks already
written stay unnamed until the chunk store's gc removes them.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from pathlib import Path

from atoll.images.chunks import ChunkStore
from atoll.images.manifest import Ingest, IngestLimits, Manifest, ingest_stream
from atoll.images.settings import ImageSettings
from atoll.images.validate import ImageInfo, check_disk_format, validate_image


@dataclass(frozen=True)
class IngestResult:
    manifest: Manifest
    info: ImageInfo

    def to_json(self) -> dict[str, object]:
        return {
            "sha256": self.manifest.sha256,
            "size": self.manifest.size,
            "chunks": len(self.manifest.chunks),
            "chunk_size": self.manifest.chunk_size,
            "disk_format": self.info.disk_format,
            "real_format": self.info.real_format,
            "virtual_size": self.info.virtual_size,
        }


async def ingest_image(
    stream: AsyncIterable[bytes] | Iterable[bytes],
    store: ChunkStore,
    settings: ImageSettings,
    *,
    disk_format: str,
    expected_sha256: str | None = None,
    expected_size: int | None = None,
) -> IngestResult:
    """Store the chunks of ``stream`` and check what it is; raise with reasons if refused."""
    check_disk_format(disk_format)
    with tempfile.NamedTemporaryFile(dir=store.root / "tmp", prefix="head-") as head:
        ingest = Ingest(
            store,
            IngestLimits(settings.max_image_size, settings.max_chunks),
            expected_size=expected_size,
            expected_sha256=expected_sha256,
            head=head,
            head_bytes=settings.validate_head_bytes,
        )
        manifest = await ingest_stream(ingest, stream)
        info = await asyncio.to_thread(
            validate_image,
            Path(head.name),
            disk_format,
            size=manifest.size,
            max_virtual_size=settings.max_virtual_size,
        )
    return IngestResult(manifest, info)
