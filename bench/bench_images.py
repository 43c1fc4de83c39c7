"""Images: upload (ingest) and site-pull throughput, WAN bytes for a shared image, boot.

- ``image_ingest_throughput``: a file streamed into the chunk store (sha256 of image and
  chunks, qemu-img validation), MB/s, against a raw local copy of the same file.
- ``image_fetch_throughput``: a site pulling the same image from a real aiohttp hub on
  loopback (verify every chunk, assemble, verify the whole image), MB/s, against the
  same raw local copy.
- ``image_shared_bytes``: bytes sent to a site that holds image A when image B shares 90%
  of A's chunks, against the size of B (goal at most 15%).
- ``reference_boot_to_http``: seconds from ``createXML`` to the reference image answering
  HTTP under TCG, against the 5 s goal.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from aiohttp import web

from atoll.images.chunks import ChunkStore
from atoll.images.manifest import Manifest, ManifestDir, read_file_blocks
from atoll.images.reference.builder import build_reference
from atoll.images.serve import build_image_app
from atoll.images.settings import ImageSettings
from atoll.images.transfer import ChunkFetcher
from atoll.images.upload import ingest_image
from atoll.testbed.services import libvirtd
from atoll.testbed.services.netns import HostNetwork
from bench.report import emit, median_of

RUNS = 3
SIZE = 256 * 1024 * 1024
MB = 1e6


def _random_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        for _ in range(size // (1 << 20)):
            fh.write(os.urandom(1 << 20))
    return path


def _local_copy(src: Path, tmp: Path) -> float:
    dst = tmp / f"copy-{secrets.token_hex(3)}"
    start = time.perf_counter()
    shutil.copyfile(src, dst)
    with dst.open("rb+") as fh:
        os.fsync(fh.fileno())
    elapsed = time.perf_counter() - start
    dst.unlink()
    return src.stat().st_size / elapsed / MB


async def _ingest(src: Path, root: Path, settings: ImageSettings) -> tuple[float, Manifest]:
    shutil.rmtree(root, ignore_errors=True)
    store = ChunkStore(root, settings.chunk_size)
    start = time.perf_counter()
    with src.open("rb") as fh:
        result = await ingest_image(read_file_blocks(fh), store, settings, disk_format="raw")
    return result.manifest.size / (time.perf_counter() - start) / MB, result.manifest


async def _serve(store: ChunkStore, manifests: ManifestDir) -> tuple[web.AppRunner, str]:
    async def lookup(image_id: str) -> Manifest:
        return manifests.load(image_id)

    async def authorize(request: web.Request, image_id: str, action: str) -> None:
        return None

    runner = web.AppRunner(build_image_app(store, lookup, authorize))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def _fetch(url: str, image_id: str, site: Path, chunk_size: int) -> tuple[float, int]:
    shutil.rmtree(site, ignore_errors=True)
    fetcher = ChunkFetcher(url, dest_dir=site / "images",
                           chunks=ChunkStore(site / "chunks", chunk_size, fsync=False))  # fmt: skip
    start = time.perf_counter()
    result = await fetcher.fetch(image_id)
    return result.manifest.size / (time.perf_counter() - start) / MB, result.bytes_fetched


def throughput(tmp: Path) -> None:
    settings = ImageSettings()
    src = _random_file(tmp / "image.raw", SIZE)
    copy = median_of(RUNS, lambda: _local_copy(src, tmp))
    runs = [asyncio.run(_ingest(src, tmp / "hub", settings)) for _ in range(RUNS)]
    ingest = sorted(r for r, _ in runs)[RUNS // 2]
    emit("image_ingest_throughput", ingest, "MB/s", copy)

    async def pulls() -> list[float]:
        store = ChunkStore(tmp / "hub", settings.chunk_size)
        manifests = ManifestDir(tmp / "manifests")
        manifests.save("img", runs[-1][1])
        runner, url = await _serve(store, manifests)
        try:
            return [(await _fetch(url, "img", tmp / "site", settings.chunk_size))[0]
                    for _ in range(RUNS)]  # fmt: skip
        finally:
            await runner.cleanup()

    fetch = sorted(asyncio.run(pulls()))[RUNS // 2]
    emit("image_fetch_throughput", fetch, "MB/s", copy)


def shared_bytes(tmp: Path) -> None:
    chunk = 1 << 20
    a = os.urandom(100 * chunk)
    b = a[: 90 * chunk] + os.urandom(10 * chunk)

    async def run() -> int:
        store = ChunkStore(tmp / "hub2", chunk, fsync=False)
        manifests = ManifestDir(tmp / "manifests2")
        settings = ImageSettings(chunk_size=chunk)
        for name, data in (("a", a), ("b", b)):
            result = await ingest_image([data], store, settings, disk_format="raw")
            manifests.save(name, result.manifest)
        runner, url = await _serve(store, manifests)
        try:
            site = tmp / "site2"
            chunks = ChunkStore(site / "chunks", chunk, fsync=False)
            fetcher = ChunkFetcher(url, dest_dir=site / "images", chunks=chunks)
            await fetcher.fetch("a")
            return (await fetcher.fetch("b")).bytes_fetched
        finally:
            await runner.cleanup()

    emit("image_shared_bytes", asyncio.run(run()), "bytes", len(b))


def boot_to_http(tmp: Path) -> None:
    from tests.images.reference_vm import boot, wait_http

    ref = build_reference(tmp / "ref", ImageSettings().reference_cache_dir)
    conn = libvirtd.connect()
    prefix = f"atoll-bench-{secrets.token_hex(3)}-"

    def once() -> float:
        net = HostNetwork()
        run = Path(tempfile.mkdtemp(dir=tmp))
        try:
            with boot(conn, ref, prefix, net, run) as guest:
                return wait_http(guest, timeout=120)[0]
        finally:
            libvirtd.remove_domains(conn, prefix)
            net.close()

    try:
        emit("reference_boot_to_http", median_of(RUNS, once), "s", 5.0)
    finally:
        libvirtd.remove_domains(conn, prefix)
        conn.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-images-", dir="/var/tmp") as tmp:
        throughput(Path(tmp))
        shared_bytes(Path(tmp))
        boot_to_http(Path(tmp))


if __name__ == "__main__":
    main()
