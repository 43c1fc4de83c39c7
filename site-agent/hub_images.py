"""Pulling images from the hub into this site's image cache (until sync carries the intents).

:class:`HubImagePuller` runs a loop every ``image_poll_interval`` seconds:

1. asks the hub for this site's pending transfers (``GET
   /v1/sites/{site}/image_transfers?state=pending``: what an operator prestaged with
   ``atoll image prestage IMAGE --site S``), and adds every image its desired servers name
   (``image``, ``kernel``, ``ramdisk``) that is a hub image id and not cached here;
2. pulls each one with :class:`atoll.images.transfer.ChunkFetcher` from the hub (chunk by
   chunk, each chunk verified against the manifest and written once, straight into the
   image file in the storage driver's ``incoming_dir``; after a cut, resuming from the
   partial image the cut left there, ``.<id>.pull.part``, which the storage driver keeps
   across restarts; reusing chunks of images already cached; under the site's bandwidth
   cap), then ``add_image(id, file, sha256)`` puts it in the cache. The site holds each
   image once, as its file; its manifest is kept (``DATA_DIR/image_chunks/manifests``) for
   later reuse. A partial image whose image is no longer to be pulled is removed;
3. reports to the hub with ``PATCH /v1/sites/{site}/image_transfers/{id}``: ``pulling`` with
   bytes done/total (at most once a second), then ``done`` or ``failed`` with the reason.
   A pull that failed for a reason a retry can cure is tried again on the next pass.

Identity: the site's certificate, from joining the hub (:class:`.hub_link.HubLink`: the hub
URL, its CA, the site certificate; no hub user, no password, no token). Calls go through the
one client core (:class:`atoll.client.aio.AsyncClient`) on the link's TLS context, taken
afresh at each pass, so a renewed certificate is used without a restart. The hub lets a
site certificate read image data and report its own site's transfers, nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from atoll import ids
from atoll.background import Loop, LoopSettings
from atoll.client.aio import AsyncClient
from atoll.errors import (
    AtollError,
    Conflict,
    InvalidInput,
    NotFound,
    TemporaryError,
)
from atoll.images.assemble import partial_path
from atoll.images.chunks import ChunkStore
from atoll.images.manifest import Manifest, ManifestDir
from atoll.images.transfer import ChunkFetcher, FetchResult
from atoll.site_agent.catalog import server_images
from atoll.site_agent.hub_link import HubLink
from atoll.site_agent.settings import SiteAgentSettings

log = logging.getLogger(__name__)

UNKNOWN_RETRY = 300.0  # seconds before asking again for an image the hub did not know
# (or one the site's image cache had no room for: servers may have gone since)
Wanted = Callable[[], Awaitable[set[str]]]


def is_hub_id(ref: str) -> bool:
    """Whether a server's image reference names a hub image (one the puller may fetch).

    Images added at the site itself are named by whoever adds them; an id the hub minted is
    told apart by :func:`atoll.ids.origin_of`.
    """
    return ids.is_id(ref) and ids.origin_of(ref) == "hub"


class ImageSink(Protocol):
    """What the puller needs of the storage driver (``LocalStorage`` has it)."""

    @property
    def incoming_dir(self) -> Path: ...

    async def add_image(
        self,
        image_id: str,
        source: Path,
        sha256: str,
        *,
        pinned: Collection[str] = (),
        hashed: bool = False,
    ) -> Any: ...

    async def get_image(self, image_id: str) -> Any: ...


class HubImagePuller:
    def __init__(
        self,
        link: HubLink,
        site: str,
        storage: ImageSink,
        chunks_dir: Path,
        *,
        chunk_size: int = 4 * 1024 * 1024,
        bandwidth_bps: int = 0,
        concurrency: int = 4,
        poll_interval: float = 10.0,
        report_interval: float = 1.0,
        retries: int = 5,
        retry_delay: float = 0.2,
        wanted: Wanted | None = None,
    ) -> None:
        self.link = link
        self.site = site
        self.storage = storage
        self.chunks = ChunkStore(chunks_dir, chunk_size, fsync=False)
        self.manifests = ManifestDir(chunks_dir / "manifests")
        self._held: dict[str, tuple[Path, Manifest]] = {}
        self.bandwidth_bps = bandwidth_bps
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.report_interval = report_interval
        self.retries = retries
        self.retry_delay = retry_delay
        self.wanted = wanted
        self.client = AsyncClient(link.url)  # replaced at each pass (the current certificate)
        self._retry: set[str] = set()
        self._unknown: dict[str, float] = {}  # ids the hub did not know -> when we asked
        self._loop = Loop(
            f"pulling images from the hub at {link.url}",
            self._pass,
            # a pull resumes from its chunks: stopping need not wait for one to finish
            LoopSettings(interval=poll_interval, stop_timeout=1.0),
            logger=log,
        )
        self.pulled: list[FetchResult] = []

    # -- the loop ---------------------------------------------------------------------

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self.client.close()

    async def _pass(self) -> None:
        await self.poll_once()

    async def poll_once(self) -> list[str]:
        """One pass: pull what is pending or needed; the ids pulled into the cache."""
        await self._refresh_held()
        self.client = self.link.client()
        try:
            todo = await self._pending()
            todo += [i for i in sorted(self._retry) if i not in todo]
            for image_id in await self._needed():
                if image_id not in todo:
                    todo.append(image_id)
            await asyncio.to_thread(self._drop_partials, todo)
            done = []
            for image_id in todo:
                if await self._pull(image_id):
                    done.append(image_id)
            return done
        finally:
            await self.client.close()  # no connection held between passes

    async def _needed(self) -> list[str]:
        if self.wanted is None:
            return []
        out = []
        for ref in sorted(await self.wanted()):
            if (
                is_hub_id(ref)
                and time.monotonic() - self._unknown.get(ref, -UNKNOWN_RETRY) >= UNKNOWN_RETRY
                and not await self._has(ref)
            ):
                out.append(ref)
        return out

    async def _has(self, image_id: str) -> bool:
        try:
            await self.storage.get_image(image_id)
            return True
        except (NotFound, InvalidInput):
            return False

    async def _refresh_held(self) -> None:
        """Pulled images still in the cache, with their manifests (for chunk reuse)."""
        held: dict[str, tuple[Path, Manifest]] = {}
        for image_id in await asyncio.to_thread(self.manifests.ids):
            try:
                image = await self.storage.get_image(image_id)
                manifest = await asyncio.to_thread(self.manifests.load, image_id)
            except (NotFound, InvalidInput):  # evicted or deleted since: forget it
                await asyncio.to_thread(self.manifests.delete, image_id)
                continue
            held[image_id] = (Path(image.path), manifest)
        self._held = held

    def _drop_partials(self, todo: Collection[str]) -> None:
        """Remove the partial images of cut pulls whose image is no longer to be pulled
        (neither pending at the hub, nor retried, nor named by a server here)."""
        incoming = self.storage.incoming_dir
        keep = {partial_path(incoming / _file_name(i)) for i in todo}
        for path in incoming.glob(f".*{PULL_SUFFIX}.part"):
            if path not in keep:
                log.info("removing %s: its image is no longer to be pulled", path.name)
                path.unlink(missing_ok=True)

    # -- one image --------------------------------------------------------------------

    async def _pull(self, image_id: str) -> bool:
        self._retry.discard(image_id)
        progress = _Progress()
        reporter = Loop(
            f"progress reports of image {image_id} to the hub",
            partial(self._send_report, image_id, "pulling", progress),
            LoopSettings(interval=self.report_interval),
            logger=log,
        )
        reporter.start()
        try:
            try:
                if await self._has(image_id):
                    image = await self.storage.get_image(image_id)
                    size = int(getattr(image, "allocated_bytes", 0) or 0)
                    progress.update(size, size)
                else:
                    await self._fetch(image_id, progress)
            finally:
                await reporter.cancel()  # before the final report, which must come last
        except (NotFound, Conflict) as exc:  # unknown to the hub, or no room in the cache
            self._unknown[image_id] = time.monotonic()
            await self._report(image_id, "failed", progress, str(exc))
            return False
        except AtollError as exc:
            if isinstance(exc, TemporaryError):
                self._retry.add(image_id)
            log.warning("pulling image %s failed: %s", image_id, exc)
            await self._report(image_id, "failed", progress, str(exc))
            return False
        await self._report(image_id, "done", progress)
        return True

    async def _fetch(self, image_id: str, progress: _Progress) -> None:
        fetcher = ChunkFetcher(
            self.link.url,
            dest_dir=self.storage.incoming_dir,
            chunks=self.chunks,
            ssl_context=self.client.ssl_context,
            bandwidth_bps=self.bandwidth_bps,
            concurrency=self.concurrency,
            retries=self.retries,
            retry_delay=self.retry_delay,
            progress=progress.update,
            local_images=lambda: list(self._held.values()),
            keep_chunks=False,  # the cache holds each image once, as its file
        )
        result = await fetcher.fetch(image_id, _file_name(image_id))
        pins = await self.wanted() if self.wanted is not None else set()
        try:
            cached = await self.storage.add_image(  # the fetcher verified every chunk of it
                image_id, result.path, result.manifest.sha256, pinned=pins, hashed=True
            )
        finally:
            result.path.unlink(missing_ok=True)
        await asyncio.to_thread(self.manifests.save, image_id, result.manifest)
        self._held[image_id] = (Path(cached.path), result.manifest)
        self.pulled.append(result)
        log.info(
            "image %s pulled from the hub: %d chunks fetched, %d reused",
            image_id,
            result.chunks_fetched,
            result.chunks_reused,
        )

    # -- talking to the hub -----------------------------------------------------------

    async def _pending(self) -> list[str]:
        path = f"/v1/sites/{self.site}/image_transfers"
        query: dict[str, str] = {"state": "pending", "limit": "1000"}
        data = await self.client.request("GET", path, query=query)
        return [str(t["image_id"]) for t in data["items"]]

    async def _report(
        self,
        image_id: str,
        state: str,
        progress: _Progress,
        error: str = "",
    ) -> None:
        try:
            await self._send_report(image_id, state, progress, error)
        except AtollError as exc:  # progress is advisory: the pull goes on
            log.info("could not report image %s %s to the hub: %s", image_id, state, exc)

    async def _send_report(
        self,
        image_id: str,
        state: str,
        progress: _Progress,
        error: str = "",
    ) -> None:
        body: dict[str, Any] = {
            "state": state,
            "bytes_done": progress.done,
            "bytes_total": progress.total,
        }
        if error:
            body["error"] = error[:1000]
        path = f"/v1/sites/{self.site}/image_transfers/{image_id}"
        await self.client.request("PATCH", path, body)


PULL_SUFFIX = ".pull"  # an image being pulled is written to incoming_dir/<id>.pull


def _file_name(image_id: str) -> str:
    return f"{image_id}{PULL_SUFFIX}"


class _Progress:
    def __init__(self) -> None:
        self.done = 0
        self.total = 0
        self.at = time.monotonic()

    def update(self, done: int, total: int) -> None:
        self.done, self.total, self.at = done, total, time.monotonic()


class _Objects(Protocol):
    def list_objects(self, kind: str | None = None, include_deleting: bool = True) -> list[Any]: ...

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any: ...


def from_settings(
    settings: SiteAgentSettings, link: HubLink, storage: ImageSink, store: _Objects
) -> HubImagePuller:
    """The puller the site agent runs once it has joined a hub."""
    hub = settings.hub
    return HubImagePuller(
        link,
        link.site_name,
        storage,
        settings.site_agent.data_dir / "image_chunks",
        bandwidth_bps=hub.image_bandwidth_bps,
        concurrency=hub.image_fetch_concurrency,
        poll_interval=hub.image_poll_interval,
        wanted=server_images(store),
    )
