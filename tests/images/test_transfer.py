"""Hub -> site distribution through a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import time
from pathlib import Path

import aiohttp
import pytest

from atoll.images.assemble import Assembly
from atoll.images.chunks import ChunkStore
from atoll.images.errors import TransferError
from atoll.images.manifest import Ingest, IngestLimits, Manifest, ingest_stream
from atoll.images.settings import ImageSettings
from atoll.images.transfer import ChunkFetcher
from tests.images.hub_server import TOKEN, Hub, hub_server, missing

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MiB = 1 << 20


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 * MiB):
            h.update(block)
    return h.hexdigest()


def _fetcher(hub: Hub, site: Path, **kw: object) -> ChunkFetcher:
    chunks = ChunkStore(site / "chunks", hub.store.chunk_size, fsync=False)
    return ChunkFetcher(hub.url, dest_dir=site / "images", chunks=chunks, headers=AUTH,
                        retry_delay=0.01, **kw)  # type: ignore[arg-type]  # fmt: skip


async def _put(hub: Hub, image_id: str, data: bytes) -> None:
    store = hub.store
    m = await ingest_stream(Ingest(store, IngestLimits(1 << 40, 1 << 20)), [data])
    hub.manifests.save(image_id, m)


async def test_one_gib_sparse_raw_round_trips_byte_identical(tmp_path: Path) -> None:
    src = tmp_path / "disk.raw"
    with src.open("wb") as fh:
        fh.truncate(1 << 30)
        for offset in (0, 300 * MiB + 17, (1 << 30) - 3 * MiB):
            fh.seek(offset)
            fh.write(os.urandom(3 * MiB))
    async with hub_server(tmp_path / "hub", ImageSettings()) as hub:
        async with (
            aiohttp.ClientSession(headers=AUTH) as http,
            http.put(
                f"{hub.url}/v1/images/disk/file?disk_format=raw",
                data=src.open("rb"),
                headers={"X-Image-Sha256": _sha(src), "Content-Length": str(1 << 30)},
            ) as resp,
        ):
            body = await resp.json()
            assert resp.status == 201, body
        assert body["size"] == 1 << 30 and body["chunks"] == 256 and body["real_format"] == "raw"
        progress: list[tuple[int, int]] = []
        fetcher = _fetcher(hub, tmp_path / "site", progress=lambda d, t: progress.append((d, t)))
        result = await fetcher.fetch("disk")
    assert _sha(result.path) == _sha(src) == result.manifest.sha256
    assert result.path.stat().st_size == 1 << 30
    assert result.path.stat().st_blocks * 512 < 64 * MiB  # holes stay holes
    assert result.chunks_fetched <= 8  # the zero chunk travels once
    assert progress[-1] == (1 << 30, 1 << 30)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


async def test_a_cut_transfer_resumes_from_the_chunks_it_has(tmp_path: Path) -> None:
    settings = ImageSettings(chunk_size=256 * 1024)
    data = os.urandom(40 * 256 * 1024)
    async with hub_server(tmp_path / "hub", settings) as hub:
        await _put(hub, "img", data)
        hub.faults.cut_after = 15
        fetcher = _fetcher(hub, tmp_path / "site", concurrency=2, retries=2)
        with pytest.raises(TransferError, match="resumes"):
            await fetcher.fetch("img")
        held = len(list(fetcher.chunks.digests()))
        assert held == 15 and not (tmp_path / "site" / "images" / "img").exists()
        hub.faults.cut_after, hub.faults.requests = None, 0
        hub.faults.served.clear()
        result = await fetcher.fetch("img")
        assert result.chunks_fetched == 40 - held == hub.faults.requests
        assert result.chunks_reused == held
        assert max(hub.faults.served.values()) == 1
    assert result.path.read_bytes() == data


@pytest.mark.parametrize("place_delay", [0.0, 0.3], ids=["fast-disk", "slow-disk"])
async def test_without_kept_chunks_a_cut_transfer_resumes_from_its_partial_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place_delay: float
) -> None:
    # slow-disk: a chunk still being written when another one fails the fetch lands first
    place = Assembly.place

    def slow_place(self: Assembly, digest: str, blocks: list[bytes]) -> None:
        time.sleep(place_delay)
        place(self, digest, blocks)

    monkeypatch.setattr(Assembly, "place", slow_place)
    chunk = 256 * 1024
    data = os.urandom(40 * chunk)
    async with hub_server(tmp_path / "hub", ImageSettings(chunk_size=chunk)) as hub:
        await _put(hub, "img", data)
        digests = hub.manifests.load("img").chunks
        hub.faults.cut_after = 15
        fetcher = _fetcher(hub, tmp_path / "site", concurrency=2, retries=2, keep_chunks=False)
        with pytest.raises(TransferError, match="resumes"):
            await fetcher.fetch("img")
        monkeypatch.undo()
        assert list(fetcher.chunks.digests()) == []  # each chunk is written once: into place
        partial = tmp_path / "site" / "images" / ".img.part"
        assert partial.stat().st_size == len(data)
        with partial.open("r+b") as fh:
            body = fh.read()
            pieces = [body[i * chunk : (i + 1) * chunk] for i in range(len(digests))]
            placed = [
                i for i, d in enumerate(digests) if hashlib.sha256(pieces[i]).hexdigest() == d
            ]
            assert len(placed) == 15
            fh.seek(placed[0] * chunk + 10)
            fh.write(b"rot")  # one placed chunk goes bad before the resume: fetched again
        hub.faults.cut_after, hub.faults.requests = None, 0
        hub.faults.served.clear()
        result = await fetcher.fetch("img")
        assert result.chunks_fetched == 40 - 15 + 1 == hub.faults.requests
        assert result.chunks_reused == 14 and max(hub.faults.served.values()) == 1
        assert hub.faults.served[digests[placed[0]]] == 1
    assert result.path.read_bytes() == data and not partial.exists()


async def test_a_cancelled_fetch_stops_a_stalled_read_and_keeps_what_arrived(
    tmp_path: Path,
) -> None:
    chunk = 256 * 1024
    data = os.urandom(8 * chunk)
    async with hub_server(tmp_path / "hub", ImageSettings(chunk_size=chunk)) as hub:
        await _put(hub, "img", data)
        digests = hub.manifests.load("img").chunks
        hub.faults.stall.add(digests[5])
        fetcher = _fetcher(hub, tmp_path / "site", concurrency=2, keep_chunks=False)
        task = asyncio.create_task(fetcher.fetch("img"))
        await hub.faults.stalled.wait()
        for _ in range(200):  # the other worker brings the other 7 chunks meanwhile
            if sum(hub.faults.served.values()) == 7:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # and places the last one
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - start < 5  # not the 60 s read timeout
        hub.faults.stall.clear()
        hub.faults.unstall.set()
        hub.faults.served.clear()
        result = await fetcher.fetch("img")
        assert result.chunks_fetched == 1 and hub.faults.served[digests[5]] == 1
    assert result.path.read_bytes() == data


async def test_a_full_disk_fails_the_fetch_at_once_and_is_not_taken_for_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: Assembly, digest: str, blocks: list[bytes]) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Assembly, "place", full)
    async with hub_server(tmp_path / "hub", ImageSettings(chunk_size=256 * 1024)) as hub:
        await _put(hub, "img", os.urandom(4 * 256 * 1024))
        fetcher = _fetcher(hub, tmp_path / "site", concurrency=1, retries=5)
        with pytest.raises(OSError, match="No space left"):
            await fetcher.fetch("img")
        assert hub.faults.requests == 1  # not asked again: a retry cannot help


async def test_a_chunk_sent_without_a_length_chunked_arrives_all_the_same(
    tmp_path: Path,
) -> None:
    settings = ImageSettings(chunk_size=256 * 1024)
    data = os.urandom(4 * 256 * 1024)
    async with hub_server(tmp_path / "hub", settings) as hub:
        await _put(hub, "img", data)
        hub.faults.chunked.update(hub.manifests.load("img").chunks[1:3])
        result = await _fetcher(hub, tmp_path / "site").fetch("img")
        assert result.chunks_fetched == 4 and max(hub.faults.served.values()) == 1
    assert result.path.read_bytes() == data


async def test_a_chunk_corrupted_on_the_wire_is_fetched_again(tmp_path: Path) -> None:
    settings = ImageSettings(chunk_size=256 * 1024)
    data = os.urandom(8 * 256 * 1024)
    async with hub_server(tmp_path / "hub", settings) as hub:
        await _put(hub, "img", data)
        victim = hub.manifests.load("img").chunks[3]
        hub.faults.corrupt.add(victim)
        result = await _fetcher(hub, tmp_path / "site").fetch("img")
        assert result.chunks_fetched == 9 and hub.faults.served[victim] == 1
    assert result.path.read_bytes() == data


async def test_a_site_holding_a_fetches_only_what_b_adds(tmp_path: Path) -> None:
    settings = ImageSettings(chunk_size=256 * 1024)
    a = os.urandom(20 * 256 * 1024)
    b = a[: 18 * 256 * 1024] + os.urandom(2 * 256 * 1024)
    async with hub_server(tmp_path / "hub", settings) as hub:
        await _put(hub, "a", a)
        await _put(hub, "b", b)
        fetcher = _fetcher(hub, tmp_path / "site")
        await fetcher.fetch("a")
        result = await fetcher.fetch("b")
    assert result.bytes_fetched == 2 * 256 * 1024 <= 0.15 * len(b)
    assert result.path.read_bytes() == b


async def test_bandwidth_cap_holds(tmp_path: Path) -> None:
    settings = ImageSettings(chunk_size=256 * 1024)
    data = os.urandom(12 * 256 * 1024)  # 3 MiB at 2 MiB/s, 0.5 MiB burst: about 1.25 s
    async with hub_server(tmp_path / "hub", settings) as hub:
        await _put(hub, "img", data)
        start = time.monotonic()
        await _fetcher(hub, tmp_path / "site", bandwidth_bps=2 * MiB).fetch("img")
        elapsed = time.monotonic() - start
    assert 1.0 < elapsed < 4.0, elapsed  # uncapped, this takes well under 0.5 s


async def test_uploads_that_fail_leave_no_image(tmp_path: Path) -> None:
    async with hub_server(tmp_path / "hub", ImageSettings(chunk_size=MiB)) as hub:
        url = f"{hub.url}/v1/images/x/file"
        async with aiohttp.ClientSession() as http:
            async with http.put(f"{url}?disk_format=raw", data=b"x" * MiB) as resp:
                assert resp.status == 401
            async with http.put(f"{url}?disk_format=raw", data=os.urandom(3 * MiB),
                                headers={**AUTH, "X-Image-Sha256": "0" * 64}) as resp:  # fmt: skip
                err = (await resp.json())["error"]
                assert (resp.status, err["code"]) == (400, "checksum_mismatch")
            async with http.put(f"{url}?disk_format=vhdx", data=b"x", headers=AUTH) as resp:
                err = (await resp.json())["error"]
                assert "'vhdx' is not one of" in err["problems"][0]["what"]
        # a body cut short: Content-Length says 8 MiB, the client sends 1 MiB and hangs up
        host, port = hub.url.split("//")[1].split("/")[0].split(":")
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"PUT /hub/v1/images/x/file?disk_format=raw HTTP/1.1\r\nHost: h\r\n"
                     f"Authorization: Bearer {TOKEN}\r\nContent-Length: {8 * MiB}\r\n\r\n"
                     .encode() + bytes(MiB))  # fmt: skip
        await writer.drain()
        writer.close()
        await asyncio.sleep(0.5)
        assert hub.uploads == [] and await missing(hub.manifests, "x")


async def test_a_local_chunk_that_rotted_is_fetched_again(tmp_path: Path) -> None:
    settings = ImageSettings(chunk_size=256 * 1024)
    a = os.urandom(6 * 256 * 1024)
    b = a[: 5 * 256 * 1024] + os.urandom(256 * 1024)
    async with hub_server(tmp_path / "hub", settings) as hub:
        await _put(hub, "a", a)
        await _put(hub, "b", b)
        fetcher = _fetcher(hub, tmp_path / "site")
        await fetcher.fetch("a")
        rotted = hub.manifests.load("a").chunks[2]
        path = fetcher.chunks.path(rotted)
        path.write_bytes(os.urandom(256 * 1024))  # same length, wrong bytes
        hub.faults.served.clear()
        result = await fetcher.fetch("b")
        assert hub.faults.served[rotted] == 1 and fetcher.chunks.verify(rotted)
    assert result.path.read_bytes() == b


async def test_chunks_are_served_per_image_with_ranges(tmp_path: Path) -> None:
    async with hub_server(tmp_path / "hub", ImageSettings(chunk_size=MiB)) as hub:
        data = os.urandom(2 * MiB)
        await _put(hub, "a", data)
        await _put(hub, "other", os.urandom(MiB))
        first = hub.manifests.load("a").chunks[0]
        foreign = hub.manifests.load("other").chunks[0]
        async with aiohttp.ClientSession(headers=AUTH) as http:
            url = f"{hub.url}/v1/images/a/chunks"
            async with http.get(f"{url}/{first}", headers={"Range": "bytes=100-199"}) as resp:
                assert resp.status == 206 and await resp.read() == data[100:200]
            async with http.get(f"{url}/{foreign}") as resp:  # not a chunk of image a
                assert resp.status == 404
            async with http.get(f"{url}/not-a-digest") as resp:
                assert resp.status == 400
            async with http.get(f"{hub.url}/v1/images/nope/manifest") as resp:
                assert resp.status == 404
            async with http.get(f"{hub.url}/v1/images/a/file") as resp:
                assert resp.headers["X-Image-Sha256"] == hashlib.sha256(data).hexdigest()
                assert await resp.read() == data


async def test_a_site_can_hold_each_image_once_and_still_reuse_chunks(tmp_path: Path) -> None:
    settings = ImageSettings(chunk_size=256 * 1024)
    a = os.urandom(20 * 256 * 1024)
    b = a[: 18 * 256 * 1024] + os.urandom(2 * 256 * 1024)
    held: dict[str, tuple[Path, Manifest]] = {}
    async with hub_server(tmp_path / "hub", settings) as hub:
        await _put(hub, "a", a)
        await _put(hub, "b", b)
        fetcher = _fetcher(hub, tmp_path / "site", keep_chunks=False,
                           local_images=lambda: list(held.values()))  # fmt: skip
        got_a = await fetcher.fetch("a")
        held["a"] = (got_a.path, got_a.manifest)
        assert list(fetcher.chunks.digests()) == []  # the image file is the only copy
        got_b = await fetcher.fetch("b")
        assert list(fetcher.chunks.digests()) == []
    assert got_b.bytes_fetched == 2 * 256 * 1024 and got_b.chunks_reused == 18
    assert got_b.path.read_bytes() == b
