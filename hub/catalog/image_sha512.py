"""The sha-512 of images' data, computed after the upload, from the stored chunks.

An upload hashes every byte twice on its way in: the image's sha256 (``checksum_sha256``,
which users declare and compare) and each chunk's (its name). The sha-512 is needed only
to bind an image to a VNFD that declares one (:func:`.vnf_packages.find_image`), so it is
not taken in the upload's path (on two cores it cost the upload a quarter of its speed):
the upload commits the image ``active`` with ``checksum_sha512`` null and starts
:meth:`ImageSha512.start`, which reads the image's chunks back on a worker thread and records
the digest with a compare-and-swap put. Images stored before the hub recorded a sha-512 get
it the same way when the hub starts (:meth:`ImageSha512.backfill`).

One computation at a time, whatever asks (uploads, the backfill, onboarding), so the
background hashing takes at most one core from the uploads that follow; and at most one
per image: asking again joins the one in flight. Onboarding a package whose VNFD declares a
sha-512 waits (bounded) for the images that have none yet (:meth:`ImageSha512.settle`), so an
image uploaded a moment before binds. Only the hub process that holds an image's data can
compute it: elsewhere (a hub of several processes over one store) the image keeps its null
sha-512 until that process has, and onboarding says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import replace

from atoll.errors import AtollError, NotFound, StaleRevision
from atoll.hub.catalog import images as catalog
from atoll.hub.catalog.image_files import ImageFiles
from atoll.hub.catalog.images import Image
from atoll.hub.store.base import Store
from atoll.hub.store.query import list_all

log = logging.getLogger(__name__)


class ImageSha512:
    def __init__(self, store: Store, files: ImageFiles, attempts: int = 5) -> None:
        self.store = store
        self.files = files
        self._attempts = attempts
        self._turn = asyncio.Lock()  # one computation at a time
        self._running: dict[str, asyncio.Task[str | None]] = {}

    def start(self, image_id: str) -> asyncio.Task[str | None]:
        """Record the image's sha-512, in the background; the one in flight if there is.

        The task gives the sha-512 recorded, or None: the image is not active, is gone, or
        this process does not hold its data (or could not read it: logged).
        """
        task = self._running.get(image_id)
        if task is None:
            task = asyncio.create_task(self._record(image_id), name=f"image-sha512-{image_id}")
            self._running[image_id] = task
            task.add_done_callback(lambda _: self._running.pop(image_id, None))
        return task

    async def settle(self, image_ids: Iterable[str], within: float) -> None:
        """Wait, at most ``within`` seconds, for the sha-512 of each image to be recorded
        (or found impossible here); computing those no computation is running for."""
        tasks = [self.start(i) for i in set(image_ids)]
        if tasks:
            await asyncio.wait(tasks, timeout=within)  # the tasks run on when it expires

    async def backfill(self) -> None:
        """Every active image with no sha-512 yet, one after the other."""
        for record in await list_all(self.store, catalog.KIND, {"status": "active"}):
            if not Image.of(record).checksum_sha512:
                await self.start(record.key)

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _record(self, image_id: str) -> str | None:
        async with self._turn:
            digest: str | None = None
            for _ in range(self._attempts):  # the record may change while it is hashed
                try:
                    record = await self.store.get(catalog.KIND, image_id)
                except NotFound:
                    return None
                image = Image.of(record)
                if image.status != "active" or image.checksum_sha512:
                    return image.checksum_sha512 if image.status == "active" else None
                if digest is None:
                    digest = await self._hash(image)
                    if digest is None:
                        return None
                    continue  # read the record again: hashing takes a while
                value = replace(image, checksum_sha512=digest).to_wire()
                try:
                    await self.store.put(
                        catalog.KIND, image_id, value, expect_revision=record.revision
                    )
                except NotFound:
                    return None
                except StaleRevision:
                    continue
                return digest
            return None

    async def _hash(self, image: Image) -> str | None:
        """The sha-512 of the image's stored data; None when this process holds none."""
        try:
            manifest = await self.files.manifest(image.id)
        except NotFound:
            return None  # no data here: another hub process's upload, or a package's file
        if manifest.sha256 != image.checksum_sha256:
            return None  # not the data the record names (never, unless the record changed)
        digest = hashlib.sha512()

        def add(chunk: str) -> None:  # read and hash in one hop to a thread
            digest.update(self.files.chunks.read(chunk))

        try:
            for chunk in manifest.chunks:  # a chunk at a time: stop() need not wait for all
                await asyncio.to_thread(add, chunk)
        except (OSError, AtollError) as exc:
            log.warning("image %s: cannot compute its sha-512 (%s)", image.id, exc)
            return None
        return digest.hexdigest()
