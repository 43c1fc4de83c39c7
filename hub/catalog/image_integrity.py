"""Damage to an image's stored data, as its catalog record shows it, and the scrub that finds it.

A chunk found corrupt (hashed before it was served, or by a scrub) is quarantined by the chunk
store. An active image whose manifest names a chunk the store no longer holds is *damaged*:
it stays ``active`` (sites that already hold its chunks keep working, its other chunks still
serve) and its ``status_reason`` says what is wrong and how to repair it; the record keeps
the count under ``damaged_chunks`` (:attr:`~atoll.hub.catalog.images.Image.damaged_chunks`, 0
when whole; not shown by the API). Uploading the same content again
(``PUT /v1/images/{id}/file`` on the damaged image) rewrites the chunks and clears the mark;
so does a scrub after any upload that stored those chunks again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from atoll.errors import NotFound, StaleRevision
from atoll.hub.catalog import images as catalog
from atoll.hub.catalog.image_files import ImageFiles
from atoll.hub.catalog.images import Image
from atoll.hub.store.base import Store
from atoll.hub.store.query import list_all
from atoll.images.manifest import Manifest
from atoll.jsonbody import JSON

log = logging.getLogger(__name__)


def damaged_reason(count: int) -> str:
    return (
        f"damaged: {count} of its chunks failed their sha256 check on the hub and are "
        "quarantined; upload the same content again to repair it"
    )


@dataclass(frozen=True)
class ScrubResult:
    checked_chunks: int
    corrupt_chunks: int
    damaged_images: tuple[str, ...]

    def to_json(self) -> JSON:
        return {
            "checked_chunks": self.checked_chunks,
            "corrupt_chunks": self.corrupt_chunks,
            "damaged_images": list(self.damaged_images),
        }


async def set_damage(store: Store, image_id: str, count: int, now: str) -> None:
    """Mark an active image damaged (``count`` chunks gone) or, with 0, clear the mark."""
    for _ in range(5):
        try:
            record = await store.get(catalog.KIND, image_id)
        except NotFound:
            return
        image = Image.of(record)
        if image.status != "active" or image.damaged_chunks == count:
            return
        reason = damaged_reason(count) if count else ""
        changed = replace(image, damaged_chunks=count, status_reason=reason, updated_at=now)
        if count:
            log.error("image %s is damaged: %d chunks quarantined or lost", image_id, count)
        else:
            log.info("image %s is whole again", image_id)
        try:
            await store.put(
                catalog.KIND, image_id, changed.to_wire(), expect_revision=record.revision
            )
            return
        except StaleRevision:
            continue


async def refresh_damage(
    store: Store, files: ImageFiles, image_id: str, manifest: Manifest, now: str
) -> None:
    """Count the image's chunks that are gone and mark (or clear) its damage accordingly."""
    missing = await asyncio.to_thread(files.missing, manifest)
    await set_damage(store, image_id, missing, now)


class Scrubber:
    """Runs one scrub at a time (the periodic loop and the admin route share it)."""

    def __init__(self, store: Store, files: ImageFiles) -> None:
        self.store = store
        self.files = files
        self._lock = asyncio.Lock()

    async def scrub(self, now: str) -> ScrubResult:
        async with self._lock:
            report, damaged = await self.files.scrub()
            for record in await list_all(self.store, catalog.KIND, {}):
                count = damaged.get(record.key, 0)
                if count or Image.of(record).damaged:
                    await set_damage(self.store, record.key, count, now)
        if report.corrupt:
            log.error(
                "image scrub: %d of %d chunks corrupt (quarantined); damaged images: %s",
                len(report.corrupt),
                report.checked,
                ", ".join(sorted(damaged)) or "none",
            )
        return ScrubResult(report.checked, len(report.corrupt), tuple(sorted(damaged)))
