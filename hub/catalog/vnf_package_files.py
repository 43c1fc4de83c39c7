"""Where a VNF package's bytes live: ``<data dir>/vnf_packages/<id>.zip`` on this hub.

Next to the upload, onboarding writes ``<id>.vnfd.zip`` (the VNFD files, for SOL005 ``GET
.../vnfd``) and, when the upload is a zip delivering a signed CSAR (SOL004 security option
2), ``<id>.csar``: that CSAR, unpacked (:meth:`PackageFiles.csar` is the CSAR that was read,
whichever it is: the hub's artifacts and plans are read from it, ``GET .../package_content``
gives the upload). The record in the store says what is in them; the files are local to the
hub that received the upload (with an etcd store shared by several hubs, another hub answers
that it does not hold the content).

Uploads stream to ``<id>.zip.part`` in chunks, hashed on the way, and are renamed into
place only when complete and within the size limit; nothing is held in memory whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import zipfile
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from atoll.errors import InvalidInput, NotFound, PayloadTooLarge, Problem
from atoll.nfv import csar
from atoll.nfv.errors import InvalidPackage, ProblemLog

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int


class PackageFiles:
    """The package files of one hub, under ``root`` (created on first use)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def content(self, package_id: str) -> Path:
        """The upload, as it came."""
        return self.root / f"{package_id}.zip"

    def unpacked(self, package_id: str) -> Path:
        """Where onboarding unpacks the CSAR of an upload that is an option-2 zip."""
        return self.root / f"{package_id}.csar"

    def csar(self, package_id: str) -> Path:
        """The CSAR onboarding read: the one unpacked from an option-2 zip, else the upload
        (an upload removes what an earlier one unpacked: :meth:`receive`)."""
        unpacked = self.unpacked(package_id)
        return unpacked if unpacked.exists() else self.content(package_id)

    def vnfd(self, package_id: str) -> Path:
        return self.root / f"{package_id}.vnfd.zip"

    async def receive(
        self, package_id: str, chunks: AsyncIterator[bytes], max_bytes: int
    ) -> Stored:
        """Write the uploaded body to the package's content file; 413 past ``max_bytes``."""
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True, mode=0o700)
        part = self.root / f"{package_id}.zip.part"
        digest = hashlib.sha256()
        size = 0
        fh = await asyncio.to_thread(part.open, "wb")
        writing: asyncio.Future[None] | None = None  # one batch on disk while the next arrives
        try:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise PayloadTooLarge(
                        f"the VNF package is over this hub's limit of {max_bytes} bytes "
                        "(setting max_vnf_package_bytes)"
                    )
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= CHUNK:
                    if writing is not None:
                        await writing
                    batch, pending, pending_size = pending, [], 0
                    writing = asyncio.ensure_future(asyncio.to_thread(_write, fh, digest, batch))
            if writing is not None:
                await writing
            await asyncio.to_thread(_write, fh, digest, pending)
            await asyncio.to_thread(fh.close)
        except BaseException:
            if writing is not None and not writing.done():
                with contextlib.suppress(BaseException):
                    await asyncio.wait([writing])
            fh.close()
            part.unlink(missing_ok=True)
            raise
        if size == 0:
            part.unlink(missing_ok=True)
            raise InvalidInput("the upload is empty: send the package's zip (CSAR) as the body")
        await asyncio.to_thread(self._unpacked_gone, package_id)  # an earlier upload's
        await asyncio.to_thread(os.replace, part, self.content(package_id))
        return Stored(digest.hexdigest(), size)

    def _unpacked_gone(self, package_id: str) -> None:
        unpacked = self.unpacked(package_id)
        for path in (unpacked, unpacked.with_name(unpacked.name + ".part")):
            path.unlink(missing_ok=True)

    def remove(self, package_id: str) -> None:
        for path in (self.content(package_id), self.vnfd(package_id)):
            path.unlink(missing_ok=True)
        (self.root / f"{package_id}.zip.part").unlink(missing_ok=True)
        self._unpacked_gone(package_id)


def missing_here(package_id: str) -> NotFound:
    """The answer when the package's files are not on this hub (naming no path of it)."""
    return NotFound(
        f"the content of VNF package {package_id} is not on this hub: each hub keeps the "
        "package files it received (ask the hub the package was uploaded to)"
    )


def _write(fh: BinaryIO, digest: Any, batch: list[bytes]) -> None:
    """Hash and write one batch off the event loop (hashlib releases the GIL)."""
    for data in batch:
        digest.update(data)
        fh.write(data)


@contextlib.contextmanager
def _holding(archive_path: Path, name: str) -> Iterator[csar.PackageFiles]:
    """The stored package, read as onboarding read it (:mod:`atoll.nfv.csar`), holding
    ``name``: a package path reads the very zip entry onboarding checked, also when the zip
    spells it ``./Files/x`` or ``Files//x`` (never reopen the zip by a package path)."""
    log = ProblemLog()
    files = csar.open_package(archive_path, log)
    if files is None:
        raise InvalidPackage("the stored VNF package can no longer be read", log.errors)
    try:
        if name not in files.names:
            raise InvalidPackage(
                "the VNF package changed since it was read", [Problem(name, "is not in it")]
            )
        yield files
    finally:
        files.close()


def entry_sha256(archive_path: Path, name: str) -> str:
    """SHA-256 of one file inside the package zip (blocking: in a thread); ``InvalidPackage``
    naming the file if the zip's data for it is bad. (Images the package carries were hashed
    when it was read: ``VnfPackage.digests``.)"""
    digest = hashlib.sha256()
    with _holding(archive_path, name) as files:
        try:
            for chunk in csar.read_chunks(files, name):
                digest.update(chunk)
        except csar.UnreadableEntry as exc:
            problem = Problem(name, str(exc))
            raise InvalidPackage("a file of the VNF package cannot be read", [problem]) from exc
    return digest.hexdigest()


def entry_size(archive_path: Path, name: str) -> int:
    """The size of one file inside the package zip (blocking: in a thread)."""
    with _holding(archive_path, name) as files:
        return files.size(name)


def entry_chunks(archive_path: Path, name: str) -> Generator[bytes]:
    """One file inside the package zip, chunk by chunk (blocking: each ``next`` in a
    thread); closing the iterator closes the zip."""
    with _holding(archive_path, name) as files:
        yield from csar.read_chunks(files, name)


def read_single_vnfd(path: Path) -> bytes:
    """The one definitions file of a one-file VNFD (blocking: run in a thread)."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.startswith("TOSCA-Metadata/")]
        return archive.read(names[0])
