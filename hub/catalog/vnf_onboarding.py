"""Onboarding uploaded VNF packages in the background: read, map images, record the result.

:class:`Onboarding` is made once per hub (``install`` in :mod:`atoll.hub.api.vnf_packages`).
After an upload the package is PROCESSING and :meth:`Onboarding.start` runs, off the request:

1. ``atoll.nfv.package.load_package`` on the stored zip, in a worker thread (it is CPU work):
   it checks every hash the package lists and the checksum the VNFD declares for each image
   the package carries, and computes the carried images' SHA-256 and SHA-512 in that pass;
   it checks the package's signatures as ``[hub] vnf_package_signature`` says
   (:mod:`.vnf_package_signature`). An upload that is a zip delivering a signed CSAR (SOL004
   security option 2) has its CSAR unpacked beside it (``<id>.csar``, at most
   ``max_vnf_package_bytes``), that CSAR's signature checked, and the CSAR read; what
   follows reads that CSAR (:meth:`.vnf_package_files.PackageFiles.csar`);
2. every ``sw_image_data`` gets a catalog image (see :mod:`.vnf_packages`): images the package
   carries are registered as catalog images of the project, with those digests; when a node
   it does not carry the image of declares a sha-512, the catalog images with none yet (the
   hub computes it just after an upload, :mod:`.image_sha512`) are waited for, at most
   ``sha512_wait`` seconds, so an image uploaded a moment before binds;
3. the VNFD files are written next to the zip for ``GET .../vnfd``, and the package's other
   files listed with their checksums (``additionalArtifacts``, ``GET .../artifacts/...``);
4. the record becomes ONBOARDED + ENABLED, or ERROR with every problem found.

At most ``concurrency`` packages are read at once, and at most ``project_share`` of them one
project's: the others of that project wait their turn behind it, so one tenant uploading
many packages (or ones that take long to read: up to the size limits, minutes of inflating
and hashing) never holds every slot, and another project's package starts as soon as a slot
is free. A hub that stopped mid-onboarding picks the package up again on start
(:meth:`recover`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from atoll.errors import DependencyError, InvalidInput, NotFound, Problem, StaleRevision
from atoll.hub.catalog import vnf_packages as pkgs
from atoll.hub.catalog.image_sha512 import ImageSha512
from atoll.hub.catalog.images import Image
from atoll.hub.catalog.vnf_package_files import PackageFiles, entry_sha256
from atoll.hub.store.base import Store
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.nfv.artifacts import ImageNeed, additional_artifacts, image_needs, vnfd_archive
from atoll.nfv.definitions import BundledTypes
from atoll.nfv.model import VnfPackage
from atoll.nfv.package import PackageLimits, load_package
from atoll.nfv.signature import SignatureCheck

log = logging.getLogger(__name__)


async def update_package(
    store: Store, package_id: str, changes: JSON, now: str, attempts: int = 5
) -> JSON:
    """Apply ``changes`` to a package record with compare-and-swap, retrying lost races."""
    for attempt in range(attempts):
        record = await store.get(pkgs.KIND, package_id)
        package = pkgs.PackageRecord.from_value(record.value)
        value = package.changed({**changes, "updatedAt": now}).to_value()
        try:
            await store.put(pkgs.KIND, package_id, value, expect_revision=record.revision)
            return value
        except StaleRevision:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _artifacts(path: Path, package: VnfPackage) -> list[JSON]:
    """SOL005 ``additionalArtifacts``: the checksum the package lists, else the SHA-256 of
    the file (blocking: in a thread)."""
    out = []
    for artifact in additional_artifacts(package):
        if artifact.algorithm and artifact.hash:
            out.append(pkgs.artifact_info(artifact.path, artifact.algorithm, artifact.hash))
        else:
            out.append(
                pkgs.artifact_info(artifact.path, "SHA-256", entry_sha256(path, artifact.path))
            )
    return out


class Onboarding:
    def __init__(
        self,
        store: Store,
        files: PackageFiles,
        now: Callable[[], str],
        bundled: BundledTypes | None = None,
        concurrency: int = 2,
        project_share: int = 1,
        signature_check: SignatureCheck | None = None,
        limits: PackageLimits | None = None,
        sha512: ImageSha512 | None = None,
        sha512_wait: float = 120.0,
    ) -> None:
        self.store = store
        self.files = files
        self.now = now
        self.bundled = bundled or BundledTypes()
        self.signature_check = signature_check
        self.limits = limits or PackageLimits()
        self.sha512 = sha512
        self.sha512_wait = sha512_wait
        self._slots = asyncio.Semaphore(concurrency)
        self._project_share = project_share
        self._shares: dict[str | None, asyncio.Semaphore] = {}
        self._waiting: collections.Counter[str | None] = collections.Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, package_id: str, image_map: Mapping[str, str], project_id: str | None) -> None:
        """Onboard the package in the background, in ``project_id``'s turn."""
        task = asyncio.create_task(self.run(package_id, dict(image_map), project_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def _turn(self, project_id: str | None) -> AsyncIterator[None]:
        """A slot, once the project has fewer than its share of them."""
        share = self._shares.setdefault(project_id, asyncio.Semaphore(self._project_share))
        self._waiting[project_id] += 1
        try:
            async with share, self._slots:
                yield
        finally:
            self._waiting[project_id] -= 1
            if not self._waiting[project_id]:
                del self._waiting[project_id], self._shares[project_id]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def recover(self) -> None:
        """Packages left PROCESSING by a stopped hub: onboard again, or back to CREATED."""
        for record in await list_all(self.store, pkgs.KIND, {}):
            package = pkgs.PackageRecord.from_value(record.value)
            if package.onboarding_state != pkgs.PROCESSING:
                continue
            if self.files.content(package.id).exists():
                self.start(package.id, package.image_map, package.project_id)
            else:
                await update_package(
                    self.store, package.id, {"onboardingState": pkgs.CREATED}, self.now()
                )

    async def run(
        self, package_id: str, image_map: dict[str, str], project_id: str | None = None
    ) -> None:
        async with self._turn(project_id):
            try:
                changes = await self._onboard(package_id, image_map)
            except InvalidInput as exc:
                changes = pkgs.failure_fields(exc.summary, exc.problems)
            except NotFound:
                return  # deleted meanwhile
            except DependencyError as exc:  # a tool of the hub's (openssl) failed
                log.error("onboarding VNF package %s failed: %s", package_id, exc.message)
                changes = pkgs.failure_fields(
                    f"the hub could not onboard the package: {exc.message}", [], status=503
                )
            except Exception:
                log.exception("onboarding VNF package %s failed unexpectedly", package_id)
                changes = pkgs.failure_fields(
                    "the hub could not onboard the package (an internal error; the hub's log "
                    "says more)",
                    [],
                    status=500,
                )
            try:
                await update_package(self.store, package_id, changes, self.now())
            except NotFound:
                self.files.remove(package_id)

    async def _onboard(self, package_id: str, image_map: dict[str, str]) -> JSON:
        record = pkgs.PackageRecord.from_value((await self.store.get(pkgs.KIND, package_id)).value)
        package = await asyncio.to_thread(
            functools.partial(
                load_package,
                image_digests=pkgs.CATALOG_DIGESTS,
                signature_check=self.signature_check,
                unpack_to=self.files.unpacked(package_id),
            ),
            self.files.content(package_id),
            self.limits,
            self.bundled,
        )
        path = await asyncio.to_thread(self.files.csar, package_id)  # the CSAR that was read
        needs = image_needs(package)
        problems = pkgs.unknown_map_entries(image_map, needs)
        images, registered = await self._images(record, package, needs, image_map, problems)
        if problems:
            raise InvalidInput("the package's images cannot all be found", problems)
        await asyncio.to_thread(self._write_vnfd, package_id, path, package)
        artifacts = await asyncio.to_thread(_artifacts, path, package)
        for image in registered:
            await self.store.put(pkgs.IMAGE_KIND, image.id, image.to_wire(), expect_revision=0)
        return {
            **pkgs.onboarded_fields(package, images),
            "additionalArtifacts": artifacts,
            "_vnfdFiles": [d.path for d in package.definitions if d.source == "package"],
        }

    async def _images(
        self,
        record: pkgs.PackageRecord,
        package: VnfPackage,
        needs: tuple[ImageNeed, ...],
        image_map: dict[str, str],
        problems: list[Problem],
    ) -> tuple[list[JSON], list[Image]]:
        """softwareImages for the record, and the catalog images to register for it."""
        owner = (record.project, record.project_id)
        images = await list_all(self.store, pkgs.IMAGE_KIND, {})
        catalog = [i for i in map(Image.of, images) if pkgs.image_usable(i, owner[1])]
        if pkgs.waits_for_later_digest(needs):
            catalog = await self._with_sha512(catalog, owner[1])
        carried: dict[str, Image] = {}  # artifact path -> catalog image registered for it
        software: list[JSON] = []
        for need in needs:
            if need.carried and need.image.artifact:
                artifact = need.image.artifact
                if artifact not in carried:
                    carried[artifact] = pkgs.carried_image_record(
                        need, package.digests[artifact], owner, record.id, self.now()
                    )
                software.append(pkgs.software_image(need, carried[artifact].id))
                continue
            found, problem = pkgs.find_image(need, catalog, image_map, owner[1])
            if problem is not None:
                problems.append(problem)
            if found is not None:
                software.append(pkgs.software_image(need, found.id))
        return software, list(carried.values())

    async def _with_sha512(self, catalog: list[Image], project_id: str) -> list[Image]:
        """``catalog`` again once the images with no sha-512 yet have theirs (an image
        uploaded a moment ago gets it in the background): at most ``sha512_wait`` seconds,
        computed here if no computation runs and this process holds the data."""
        pending = [i.id for i in catalog if not i.checksum_sha512]
        if self.sha512 is None or not pending:
            return catalog
        await self.sha512.settle(pending, within=self.sha512_wait)
        fresh: list[Image] = []
        for image in catalog:
            if image.id in pending:
                try:
                    image = Image.of(await self.store.get(pkgs.IMAGE_KIND, image.id))
                except NotFound:
                    continue  # deleted meanwhile
            if pkgs.image_usable(image, project_id):
                fresh.append(image)
        return fresh

    def _write_vnfd(self, package_id: str, path: Path, package: VnfPackage) -> None:
        target = self.files.vnfd(package_id)
        part = target.with_suffix(".part")
        part.write_bytes(vnfd_archive(path, package))
        part.replace(target)
