"""The hub image service end to end: upload and site-pull throughput through a real hub.

Unlike ``bench_images`` (the chunk store and fetcher alone), these go through everything a
user's bytes cross, with the hub in its own process (``atoll hub serve``): HTTPS with the
hub's own CA, token auth and policy, the catalog record,
chunking + sha256 + qemu-img validation on upload (the image's sha-512 follows in the
background, after the upload has answered); and on the site, the pull loop
(``site-agent/hub_images.py``): transfer poll, chunk fetch with verification, assembly,
``LocalStorage.add_image`` (which checks the sha256 again), progress reports.

- ``image_service_upload_throughput``: ``atoll image upload``'s streaming PUT of a 256 MiB
  random raw image, MB/s, against a raw local copy of the same file (copy + fsync).
- ``image_service_site_pull_throughput``: a prestaged image pulled by the site loop into a
  LocalStorage, MB/s, against the same raw local copy.
- ``image_service_upload_vs_bare_https_put_bound_by_cpu``: the same upload against the
  machine's limit for it: ``curl -T`` of the same file to a bare aiohttp HTTPS handler (the
  hub's certificate) that writes the body to a file and fsyncs it. The goal (>= 0.8x) is met
  on a quiet machine (0.85 and 0.95 in two ``make bench`` of 2026-12-03; 0.57-0.71 before
  the change below) and missed when a neighbour takes the cores (0.62-0.74 the same
  morning): the name says what bounds it, and the lines below measure that in the same run:
  - ``image_service_upload_cpu_vs_bare_https_put_per_256_mib``: CPU seconds the upload
    takes (the hub process and the client together) against the bare PUT's (server + curl).
  - ``image_service_upload_digests_cpu_vs_bare_https_put_per_256_mib``: CPU seconds of the
    two digests the hub takes of every byte in the upload's path, each one something checks
    (the image's sha256, the record's checksum users declare and compare; each chunk's
    sha256, its name, for dedup and the sites' verification), alone, against the bare PUT's
    CPU. The image's sha-512 (which VNFDs declare) was a third, on a thread of its own
    beside them, until it moved out of the path: the hub now computes it from the stored
    chunks after the upload has answered (:mod:`atoll.hub.catalog.image_sha512`; 0.26 CPU-s
    per 256 MiB here, that the upload no longer waits for). The three cost more than the
    bare PUT in all (0.67 against 0.60 CPU-s here); the two, about half of it (0.27 against
    0.46-0.53).
  - ``image_service_upload_ceiling_on_2_cores_vs_bare_https_put``: the most the upload could
    reach were both cores busy with it all the time (256 MiB over its CPU seconds / 2).
  - ``image_service_bare_put_plus_digests_ceiling_on_2_cores_vs_bare_https_put``: the same
    had the hub added nothing to the bare PUT but the digests: ~0.69x with three, under the
    goal; ~1.04x with two. The rest of the upload's CPU (its TLS in Python, the client's,
    the request path) is now what keeps it under: moving the sha-512 out took the upload
    from 1.05-1.13 to 0.87-0.93 CPU-s and from 0.51-0.59x to 0.67-0.69x (two runs each,
    before and after; 386-390 -> 447-476 MB/s; interleaved A/B, two rounds: 0.58, 0.60 ->
    0.71, 0.65).
  - ``image_service_sha512_after_upload``: from the upload's answer until the image's record
    has its sha-512, against ``hashlib`` hashing the same file in memory: what the deferred
    digest takes. The pull is timed only once it is there (pulled while the hub hashes, it
    shared the two cores with it: 415-427 -> 347-368 MB/s), so it measures the pull.
  The hub writes its chunks with O_DIRECT (the page cache's fresh pages were most of the
  write's CPU on this VM: upload 0.37-0.46x before, 0.55-0.59x after, interleaved A/B
  177 -> 255 MB/s median of 6; the pull right after, its chunks now read from the disk,
  370 -> 343 MB/s). Each byte of an upload is copied once, on the ingest's feeding thread,
  into a page-aligned chunk buffer that the chunk is hashed and written from and that is
  reused once written: none on the event loop (it regrouped the bytes into chunks before),
  none in the chunk store (it copied each chunk into an aligned buffer of its own); the
  same A/B, 6 rounds: 323 -> 348 MB/s median, 1.19 -> 1.12 CPU-s. A second line has the
  CLI's own client (``send_file``, Python's TLS) upload to the bare handler: how much of the
  gap is the client. ``..._vs_hub_ingest_alone`` (below) compares with the ingest in
  process, no network.
- ``image_service_site_pull_vs_tls_wire``: the same pull against the TLS wire limit: ``curl``
  downloading the same bytes over HTTPS from ``openssl s_server -WWW`` with the hub's
  certificate, into a file that is then fsynced. A third line compares the pull with an
  aiohttp client doing that same download (an asyncio client that decrypts TLS on its
  event loop's thread; the site receives chunks on worker threads instead, see below).

- ``image_service_site_pull_vs_its_chunk_requests_alone``: the same pull against the same
  chunk requests to the same hub over the site's wire (``ChunkWire``: its TLS, its worker
  threads, 4 at a time), the bytes received and dropped: what the hub's serving and the
  site's TLS allow. Where the pull is below it, the site's own work per byte is the bound
  (a sha256 per chunk, the chunk written into the image, one fsync), on the same two cores
  as the hub.
  Measured (2 cores, 256 MiB, medians of 6, interleaved): the hub spends ~0.5 CPU-s
  serving it (Python's TLS); the site ~1.25 CPU-s when aiohttp received the chunks on the
  event loop and they were written through the page cache, ~1.0 with chunks received on
  worker threads, ~0.55 once they are written with O_DIRECT (receiving ~0.25, a sha256
  ~0.15): writing 256 MiB of fresh page cache costs 0.1 to 0.8 CPU-s on this VM from one
  run to the next, a direct write ~0.015. The pull went from ~1.15 s to ~0.65 s.

- ``image_service_upload_vs_hub_ingest_alone``: the same upload against its measured bound:
  the hub's ingest (:class:`atoll.images.manifest.Ingest`: image sha256, chunk sha256,
  chunk writes, one fsync per chunk at the commit point) fed the same file in
  process, no network, no TLS. Where this is below the bare PUT, the hashing is the bound.

Each round runs the hub once (upload, then pull) and then every baseline, so a noisy
neighbour hits figures and baselines alike; the lines give the medians of the rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import resource
import secrets
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography import x509

from atoll import certs
from atoll.client import HubClient
from atoll.errors import AtollError
from atoll.images.chunk_wire import ChunkWire
from atoll.images.chunks import DEFAULT_CHUNK_SIZE, ChunkStore
from atoll.images.hub_files import send_file
from atoll.images.manifest import Ingest, IngestLimits, Manifest, ingest_stream, read_file_blocks
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings
from atoll.site_agent.enrollment import join_with
from atoll.site_agent.hub_images import HubImagePuller
from atoll.site_agent.hub_link import HubLink
from atoll.sync.join import JoinCode
from atoll.testbed.services.ports import free_port, wait_for_port
from bench.report import cpu_seconds, emit, paired_medians

RUNS = 5  # rounds of upload + pull and every baseline: ratios swing +-15% a round here
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


def _ingest_alone(src: Path, tmp: Path) -> float:
    """MB/s of the hub's ingest alone on ``src`` (read from the page cache, in process)."""
    root = tmp / f"ingest-{secrets.token_hex(3)}"
    store = ChunkStore(root, direct=True)  # as the hub opens its store
    start = time.perf_counter()
    with src.open("rb") as fh:
        ingest = Ingest(store, IngestLimits(2 * SIZE, SIZE))
        asyncio.run(ingest_stream(ingest, read_file_blocks(fh, 1 << 20)))
    elapsed = time.perf_counter() - start
    shutil.rmtree(root)
    return SIZE / elapsed / MB


def _digests_cpu(src: Path, chunk_size: int) -> float:
    """CPU seconds of the two digests the hub's ingest takes of every byte (the image's
    sha256, each chunk's sha256), one after the other on this thread."""
    data = src.read_bytes()
    start = time.thread_time()
    hashlib.sha256(data).hexdigest()
    view = memoryview(data)
    for offset in range(0, len(data), chunk_size):
        hashlib.sha256(view[offset : offset + chunk_size]).hexdigest()
    return time.thread_time() - start


def _s_server_download(data_dir: Path, src: Path, tmp: Path, client: str) -> float:
    """MB/s of ``client`` fetching ``src`` from ``openssl s_server -WWW`` (the hub's TLS
    certificate) into a file, fsynced: ``curl`` gives the TLS wire limit of a pull,
    ``aiohttp`` the limit of an asyncio TLS client (what the site agent is built on)."""
    port = free_port()
    server = subprocess.Popen(
        ["openssl", "s_server", "-WWW", "-quiet", "-accept", f"127.0.0.1:{port}",
         "-cert", str(data_dir / "hub.pem"), "-key", str(data_dir / "hub-key.pem")],
        cwd=src.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    dst = tmp / f"{client}-{secrets.token_hex(3)}"
    url = f"https://127.0.0.1:{port}/{src.name}"
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        start = time.perf_counter()
        if client == "curl":
            _curl("--output", str(dst), url, ca=data_dir)
        else:
            asyncio.run(_aiohttp_get(url, dst, data_dir / "ca.pem"))
        with dst.open("rb+") as fh:
            os.fsync(fh.fileno())
        elapsed = time.perf_counter() - start
        assert dst.stat().st_size == SIZE, dst.stat().st_size
        return SIZE / elapsed / MB
    finally:
        server.terminate()
        server.wait(10)
        dst.unlink(missing_ok=True)


async def _aiohttp_get(url: str, dst: Path, ca: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as resp:
        with dst.open("wb") as fh:  # bare: writes on the loop
            async for block in resp.content.iter_chunked(1 << 20):
                fh.write(block)


def _serve_put(port: int, cert_dir: str, out: str) -> None:
    """A bare aiohttp HTTPS server whose PUT writes the body to ``out`` and fsyncs it."""

    async def put(request: web.Request) -> web.Response:
        with Path(out).open("wb") as fh:  # noqa: ASYNC230 (bare: writes on the loop)
            async for block in request.content.iter_chunked(1 << 20):
                fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
        return web.json_response({})

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(f"{cert_dir}/hub.pem", f"{cert_dir}/hub-key.pem")
    app = web.Application(client_max_size=2 * SIZE)
    app.router.add_put("/v1/images/{image_id}/file", put)
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, print=None)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _send_file_cpu(client: HubClient, image_id: str, src: Path) -> float:
    """:func:`send_file` on this thread; the CPU seconds the client spent (its TLS too)."""
    start = time.thread_time()
    send_file(client, image_id, src)
    return time.thread_time() - start


def _bare_upload(
    data_dir: Path, src: Path, tmp: Path, client: str, cpu: list[float] | None = None
) -> float:
    """MB/s of ``client`` uploading ``src`` to :func:`_serve_put`: ``curl -T`` gives the limit
    of an upload, ``atoll`` (the CLI's :func:`send_file`) that of our client on its own.
    ``cpu`` (for curl) gets the CPU seconds the server and curl spent on it, together."""
    port = free_port()
    out = tmp / f"put-{secrets.token_hex(3)}"
    server = multiprocessing.get_context("fork").Process(
        target=_serve_put, args=(port, str(data_dir), str(out)), daemon=True
    )
    server.start()
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        url = f"https://127.0.0.1:{port}"
        assert server.pid is not None
        server_cpu, curl_cpu = cpu_seconds(server.pid), _children_cpu()
        start = time.perf_counter()
        if client == "curl":
            _curl("-T", str(src), f"{url}/v1/images/bare/file", ca=data_dir)
        else:
            send_file(HubClient(url, None, str(data_dir / "ca.pem"), timeout=300), "bare", src)
        elapsed = time.perf_counter() - start
        if cpu is not None:
            cpu.append(cpu_seconds(server.pid) - server_cpu + _children_cpu() - curl_cpu)
        assert out.stat().st_size == SIZE, out.stat().st_size
        return SIZE / elapsed / MB
    finally:
        server.terminate()
        server.join(10)
        out.unlink(missing_ok=True)


def _curl(*args: str, ca: Path) -> None:
    subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "--cacert", str(ca / "ca.pem"), *args],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


@contextlib.contextmanager
def _hub_process(data_dir: Path) -> Iterator[tuple[str, str, int]]:
    """``atoll hub init`` + ``atoll hub serve`` in their own process: (url, ca file, pid)."""
    atoll = str(Path(sys.executable).with_name("atoll"))
    env = {**os.environ, "ATOLL_ADMIN_PASSWORD": PASSWORD}
    _hub_init(data_dir)
    port = free_port()
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
    # a log file, not a pipe: a pipe nobody reads fills up and the hub stalls writing to it
    log = (data_dir / "hub.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
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
        yield url, ca, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


async def _chunks_alone(url: str, image_id: str, manifest: Manifest, link: HubLink) -> float:
    """MB/s of the site's chunk requests alone: the same chunks from the same hub over the
    site's wire (its TLS, its threads, as many at a time as the puller), received and
    dropped (no hash, no write)."""
    todo = list(dict.fromkeys(manifest.chunks))
    lengths = {d: manifest.chunk_length(i) for i, d in enumerate(manifest.chunks)}
    wire = ChunkWire(url, ssl_context=link.ssl_context(), headers={}, timeout=60,
                     concurrency=4, buffer_size=manifest.chunk_size)  # fmt: skip

    def worker() -> None:
        conn = wire.take()
        while True:
            try:
                digest = todo.pop()
            except IndexError:
                break
            path = f"/v1/images/{image_id}/chunks/{digest}"
            assert wire.get(conn, path, lengths[digest], digest, None).body is not None
        wire.give_back(conn)

    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    try:
        await asyncio.gather(*(loop.run_in_executor(wire.threads, worker) for _ in range(4)))
    finally:
        wire.close()
    return manifest.size / (time.perf_counter() - start) / MB


async def _one_run(src: Path, root: Path) -> tuple[float, float, float, float, float]:
    """(upload MB/s, site pull MB/s, chunk requests alone MB/s, the upload's CPU seconds in
    the hub and its client together, seconds until the record had its sha-512) through a
    fresh hub process and a fresh site."""
    with _hub_process(root / "hub") as (url, ca, hub_pid):
        anon = HubClient(url, None, ca)
        login = {"user": "admin", "password": PASSWORD}
        token = (await asyncio.to_thread(anon.post, "/v1/auth/tokens", login))["token"]
        admin = HubClient(url, token, ca, timeout=300)
        made = await asyncio.to_thread(admin.post, "/v1/join_tokens", {"site": "edge"})
        image = await asyncio.to_thread(
            admin.post, "/v1/images", {"name": "bench", "disk_format": "raw"}
        )
        hub_cpu = cpu_seconds(hub_pid)
        start = time.perf_counter()
        client_cpu = await asyncio.to_thread(_send_file_cpu, admin, image["id"], src)
        upload = SIZE / (time.perf_counter() - start) / MB
        upload_cpu = cpu_seconds(hub_pid) - hub_cpu + client_cpu
        answered = time.perf_counter()
        while not (await asyncio.to_thread(admin.get, f"/v1/images/{image['id']}"))[
            "checksum_sha512"
        ]:
            if time.perf_counter() - answered > 120:
                raise TimeoutError("the image's sha-512 was not recorded in 120 s")
            await asyncio.sleep(0.02)
        sha512 = time.perf_counter() - answered
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
        alone = await _chunks_alone(url, image["id"], puller.pulled[-1].manifest, link)
        return upload, pull, alone, upload_cpu, sha512


def _sha512_seconds(src: Path) -> float:
    """Seconds ``hashlib`` takes to hash ``src`` (read first, so the disk is not timed)."""
    data = src.read_bytes()
    start = time.perf_counter()
    hashlib.sha512(data).digest()
    return time.perf_counter() - start


def _hub_init(data_dir: Path) -> None:
    atoll = str(Path(sys.executable).with_name("atoll"))
    env = {**os.environ, "ATOLL_ADMIN_PASSWORD": PASSWORD}
    subprocess.run(
        [atoll, "hub", "init", "--data-dir", str(data_dir)],
        env=env,
        check=True,
        capture_output=True,
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-imgsvc-", dir="/var/tmp") as tmp_dir:
        tmp = Path(tmp_dir)
        src = _random_file(tmp / "image.raw", SIZE)
        certs_dir = tmp / "tls"  # a hub's certificate and CA for the baselines
        _hub_init(certs_dir)
        results: list[tuple[float, float, float, float, float]] = []
        bare_cpu: list[float] = []

        def run() -> float:
            root = tmp / f"run-{len(results)}"
            results.append(asyncio.run(_one_run(src, root)))
            shutil.rmtree(root)
            return results[-1][0]

        _, copy, download, aiohttp_download, upload, atoll_upload, ingest = paired_medians(
            RUNS,
            run,
            lambda: _local_copy(src, tmp),
            lambda: _s_server_download(certs_dir, src, tmp, "curl"),
            lambda: _s_server_download(certs_dir, src, tmp, "aiohttp"),
            lambda: _bare_upload(certs_dir, src, tmp, "curl", bare_cpu),
            lambda: _bare_upload(certs_dir, src, tmp, "atoll"),
            lambda: _ingest_alone(src, tmp),
        )
        uploads = statistics.median(r[0] for r in results)
        pulls = statistics.median(r[1] for r in results)
        alone = statistics.median(r[2] for r in results)
        upload_cpu = statistics.median(r[3] for r in results)
        sha512 = statistics.median(r[4] for r in results)
        digests = statistics.median(_digests_cpu(src, DEFAULT_CHUNK_SIZE) for _ in range(RUNS))
        emit("image_service_upload_throughput", uploads, "MB/s", copy)
        emit("image_service_site_pull_throughput", pulls, "MB/s", copy)
        emit("image_service_upload_vs_bare_https_put_bound_by_cpu", uploads, "MB/s", upload)
        emit("image_service_site_pull_vs_tls_wire", pulls, "MB/s", download)
        emit("image_service_site_pull_vs_asyncio_tls_download", pulls, "MB/s", aiohttp_download)
        emit("image_service_site_pull_vs_its_chunk_requests_alone", pulls, "MB/s", alone)
        emit("image_service_upload_vs_bare_https_put_from_atoll_client", uploads, "MB/s",
             atoll_upload)  # fmt: skip
        emit("image_service_upload_vs_hub_ingest_alone", uploads, "MB/s", ingest)
        emit("image_service_hub_ingest_alone_vs_bare_https_put", ingest, "MB/s", upload)
        emit("image_service_sha512_after_upload", sha512, "s", _sha512_seconds(src))
        bare = statistics.median(bare_cpu)
        per = f"per_{SIZE >> 20}_mib"
        emit(f"image_service_upload_digests_cpu_vs_bare_https_put_{per}", digests,
             "CPU-s (sha256 + chunk sha256; server + curl)", bare)  # fmt: skip
        cores = len(os.sched_getaffinity(0))
        emit(f"image_service_upload_cpu_vs_bare_https_put_{per}", upload_cpu,
             "CPU-s (hub + client; server + curl)", bare)  # fmt: skip
        # the most the upload could reach if every core did its work all the time, against
        # the bare PUT: where this is under the goal, the CPU the upload needs is the bound
        ceiling = SIZE / MB / (upload_cpu / cores)
        emit(f"image_service_upload_ceiling_on_{cores}_cores_vs_bare_https_put", ceiling,
             "MB/s (bound: the upload's CPU)", upload)  # fmt: skip
        # and had the hub added nothing to the bare PUT but the two digests
        floor = SIZE / MB / ((bare + digests) / cores)
        emit(f"image_service_bare_put_plus_digests_ceiling_on_{cores}_cores_vs_bare_https_put",
             floor, "MB/s (bound: the digests' CPU)", upload)  # fmt: skip


if __name__ == "__main__":
    main()
