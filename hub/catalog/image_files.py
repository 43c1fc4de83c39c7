"""Where the hub keeps image data: content-addressed chunks and one manifest per image.

``DATA_DIR/images/chunks/ab/ab12...`` holds every chunk once, however many images share it
(:class:`atoll.images.chunks.ChunkStore`); ``DATA_DIR/images/manifests/<id>.json`` names an
image's chunks in order (:class:`atoll.images.manifest.ManifestDir`). A manifest is written
only after the upload was complete, matched its declared checksum and passed validation, so
an image without one has no data here (queued, killed, or registered by VNF onboarding from
a package's own file). Chunks no manifest names are collected by :meth:`ImageFiles.gc` once
they are an hour old (an upload in flight is never collected). :meth:`ImageFiles.scrub` hashes
every chunk, quarantines corrupt ones (``DATA_DIR/images/quarantine/``) and says which images
lost chunks.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from atoll.errors import NotFound
from atoll.images.chunks import ChunkStore, GcReport, ScrubReport
from atoll.images.manifest import Manifest, ManifestDir
from atoll.images.settings import ImageSettings
from atoll.images.upload import IngestResult, ingest_image

log = logging.getLogger(__name__)
RECENT_MANIFESTS = 64


class ImageFiles:
    def __init__(self, root: Path, settings: ImageSettings) -> None:
        self.root = Path(root)
        self.settings = settings
        # manifests never change once written (an image gets data once): keep recent ones,
        # so serving each chunk of a big image does not parse its manifest again
        self._recent: collections.OrderedDict[str, Manifest] = collections.OrderedDict()

    @functools.cached_property
    def chunks(self) -> ChunkStore:
        """Opened (and its directories made) on first use, not when the app is built."""
        return ChunkStore(self.root, self.settings.chunk_size, direct=True)

    @functools.cached_property
    def manifests(self) -> ManifestDir:
        return ManifestDir(self.root / "manifests")

    async def ingest(
        self,
        stream: AsyncIterable[bytes],
        *,
        disk_format: str,
        expected_sha256: str | None,
        expected_size: int | None,
    ) -> IngestResult:
        """Chunk, hash and validate an upload (refusals raise with reasons; no manifest)."""
        return await ingest_image(
            stream,
            self.chunks,
            self.settings,
            disk_format=disk_format,
            expected_sha256=expected_sha256,
            expected_size=expected_size,
        )

    async def save(self, image_id: str, manifest: Manifest) -> None:
        await asyncio.to_thread(self.manifests.save, image_id, manifest)
        self._remember(image_id, manifest)

    def _remember(self, image_id: str, manifest: Manifest) -> None:
        self._recent[image_id] = manifest
        self._recent.move_to_end(image_id)
        while len(self._recent) > RECENT_MANIFESTS:
            self._recent.popitem(last=False)

    async def manifest(self, image_id: str) -> Manifest:
        """The image's manifest; NotFound when the hub holds no data for it."""
        if image_id in self._recent:
            self._recent.move_to_end(image_id)
            return self._recent[image_id]
        if not self.root.exists():
            raise NotFound(f"image {image_id} has no manifest")
        manifest = await asyncio.to_thread(self.manifests.load, image_id)
        self._remember(image_id, manifest)
        return manifest

    async def read(self, manifest: Manifest) -> AsyncIterator[bytes]:
        """The image's bytes, chunk by chunk, in order (one chunk in memory at a time)."""
        for digest in manifest.chunks:
            yield await asyncio.to_thread(self.chunks.read, digest)

    async def remove(self, image_id: str) -> None:
        self._recent.pop(image_id, None)
        if self.root.exists():
            await asyncio.to_thread(self.manifests.delete, image_id)

    def missing(self, manifest: Manifest) -> int:
        """How many of the manifest's chunks the store does not hold (blocking)."""
        return sum(1 for digest in manifest.chunk_set if not self.chunks.has(digest))

    async def scrub(self) -> tuple[ScrubReport, dict[str, int]]:
        """Hash every chunk, quarantine corrupt ones; and each image id missing chunks now,
        with how many (quarantined by this scrub or before, or lost)."""
        if not self.root.exists():
            return ScrubReport(checked=0, corrupt=()), {}

        def sweep() -> tuple[ScrubReport, dict[str, int]]:
            report = self.chunks.scrub()
            damaged: dict[str, int] = {}
            for image_id in self.manifests.ids():
                try:
                    count = self.missing(self.manifests.load(image_id))
                except NotFound:
                    continue  # deleted meanwhile
                if count:
                    damaged[image_id] = count
            return report, damaged

        return await asyncio.to_thread(sweep)

    async def gc(self, grace_seconds: float = 3600.0) -> GcReport | None:
        if not self.root.exists():
            return None

        def sweep() -> GcReport:
            return self.chunks.gc(
                self.manifests.live_chunks(),
                grace_seconds=grace_seconds,
                quarantine_retention=self.settings.quarantine_retention,
            )

        return await asyncio.to_thread(sweep)
