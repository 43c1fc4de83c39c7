"""The hub image service end to end: upload and site-pull throughput through a real hub.

Unlike ``bench_images`` (the chunk store and fetcher alone), these go through everything a
user's bytes cross, with the hub in its own process (``atoll hub serve``): HTTPS with the
hub's own CA, token auth and policy, the catalog record,
chunking + sha256 + qemu-img validation on upload; and on the site, the pull loop
(``site-agent/hub_images.py``): transfer poll, chunk fetch with verification, assembly,
``LocalStorage.add_image`` (which checks the sha256 again), progress reports.

- ``image_service_upload_throughput``: ``atoll image upload``'s streaming PUT of a 256 MiB
  random raw image, MB/s, against a raw local copy of the same file (copy + fsync).
- ``image_service_site_pull_throughput``: a prestaged image pulled by the site loop into a
  LocalStorage, MB/s, against the same raw local copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509

from atoll import certs
from atoll.client import HubClient
from atoll.errors import AtollError
from atoll.images.hub_files import send_file
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings
from atoll.site_agent.enrollment import join_with
from atoll.site_agent.hub_images import HubImagePuller
from atoll.sync.join import JoinCode
from bench.report import emit, median_of

RUNS = 3
SIZE = 256 * 1024 * 1024
MB = 1e6
PASSWORD = "bench-admin-password"  # noqa: S105 (a throwaway hub of this run)


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _hub_process(data_dir: Path) -> Iterator[tuple[str, str]]:
    """``atoll hub init`` + ``atoll hub serve`` in their own process: (url, ca file)."""
    atoll = str(Path(sys.executable).with_name("atoll"))
    env = {**os.environ, "ATOLL_ADMIN_PASSWORD": PASSWORD}
    subprocess.run(
        [atoll, "hub", "init", "--data-dir", str(data_dir)],
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    argv = [
        atoll,
        "hub",
        "serve",
        "--data-dir",
        str(data_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--store",
        "memory",
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url, ca = f"https://127.0.0.1:{port}", str(data_dir / "ca.pem")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                HubClient(url, None, ca, timeout=2).get("/v1/openapi.json")
                break
            except AtollError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the hub did not start") from None
                time.sleep(0.1)
        yield url, ca
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def _one_run(src: Path, root: Path) -> tuple[float, float]:
    """(upload MB/s, site pull MB/s) through a fresh hub process and a fresh site."""
    with _hub_process(root / "hub") as (url, ca):
        anon = HubClient(url, None, ca)
        login = {"user": "admin", "password": PASSWORD}
        token = (await asyncio.to_thread(anon.post, "/v1/auth/tokens", login))["token"]
        admin = HubClient(url, token, ca, timeout=300)
        made = await asyncio.to_thread(admin.post, "/v1/join_tokens", {"site": "edge"})
        image = await asyncio.to_thread(
            admin.post, "/v1/images", {"name": "bench", "disk_format": "raw"}
        )
        start = time.perf_counter()
        await asyncio.to_thread(send_file, admin, image["id"], src)
        upload = SIZE / (time.perf_counter() - start) / MB
        await asyncio.to_thread(
            admin.post, f"/v1/images/{image['id']}/prestage", {"sites": ["edge"]}
        )
        storage = LocalStorage(LocalStorageSettings(root=root / "site" / "storage"))
        ca_pem = await asyncio.to_thread(Path(ca).read_bytes)
        pin = certs.ca_pin(x509.load_pem_x509_certificate(ca_pem))
        link = await join_with(root / "site" / "data", JoinCode(url, made["token"], pin))
        puller = HubImagePuller(link, "edge", storage, root / "site" / "chunks")
        start = time.perf_counter()
        pulled = await puller.poll_once()
        pull = SIZE / (time.perf_counter() - start) / MB
        assert pulled == [image["id"]], pulled
        return upload, pull


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-imgsvc-", dir="/var/tmp") as tmp_dir:
        tmp = Path(tmp_dir)
        src = _random_file(tmp / "image.raw", SIZE)
        results: list[tuple[float, float]] = []

        def run() -> float:
            root = tmp / f"run-{len(results)}"
            results.append(asyncio.run(_one_run(src, root)))
            shutil.rmtree(root)
            return results[-1][0]

        median_of(RUNS, run)
        copy = median_of(RUNS, lambda: _local_copy(src, tmp))
        uploads = sorted(r[0] for r in results)
        pulls = sorted(r[1] for r in results)
        emit("image_service_upload_throughput", uploads[len(uploads) // 2], "MB/s", copy)
        emit("image_service_site_pull_throughput", pulls[len(pulls) // 2], "MB/s", copy)


if __name__ == "__main__":
    main()
