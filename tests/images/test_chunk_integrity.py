"""A stored chunk whose bytes no longer match its name: repaired by a re-store, quarantined
when read verified or scrubbed, refused by the serving routes; and a stalled upload body."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from atoll.errors import ConfigError
from atoll.images.chunks import ChunkStore
from atoll.images.errors import ChunkMissing, ChunkQuarantined, UploadStalled
from atoll.images.serve import request_blocks
from atoll.images.settings import ImageSettings
from atoll.images.upload import ingest_image
from tests.images.hub_server import TOKEN, hub_server

CHUNK = 64 * 1024


def _rot(store: ChunkStore, digest: str) -> None:
    path = store.path(digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_storing_over_a_corrupt_chunk_repairs_it(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    data = b"content" * 1000
    digest = store.put(data)
    _rot(store, digest)  # same size, other bytes: a size check alone keeps it
    assert not store.verify(digest)
    assert store.put(data) == digest
    assert store.read(digest) == data and store.verify(digest)


def test_a_verified_read_quarantines_a_corrupt_chunk(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    good, bad = store.put(b"good" * 100), store.put(b"bad!" * 100)
    _rot(store, bad)
    assert store.read_verified(good) == b"good" * 100
    with pytest.raises(ChunkQuarantined):
        store.read_verified(bad)
    assert not store.has(bad) and store.quarantined(bad)
    assert (tmp_path / "quarantine" / bad).is_file()  # moved aside, not deleted
    with pytest.raises(ChunkQuarantined):
        store.read(bad)  # never served, and says why
    assert bad not in set(store.digests())
    store.put(b"bad!" * 100)  # the same content again repairs it
    assert store.read_verified(bad) == b"bad!" * 100 and not store.quarantined(bad)
    with pytest.raises(ChunkMissing):
        store.read("f" * 64)


def test_quarantine_puts_back_a_chunk_a_put_repaired_meanwhile(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    digest = store.put(b"fine" * 100)  # found corrupt by a reader, then repaired before the move
    assert not store.quarantine(digest)
    assert store.read_verified(digest) == b"fine" * 100 and not store.quarantined(digest)


def test_scrub_quarantines_every_corrupt_chunk_and_only_those(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    digests = [store.put(bytes([i]) * 1000) for i in range(1, 6)]
    _rot(store, digests[1])
    _rot(store, digests[3])
    report = store.scrub()
    assert report.checked == 5
    assert sorted(report.corrupt) == sorted([digests[1], digests[3]])
    assert sorted(store.digests()) == sorted([digests[0], digests[2], digests[4]])
    assert store.scrub().corrupt == ()


def test_verify_on_serve_is_a_share() -> None:
    with pytest.raises(ConfigError, match="verify_on_serve"):
        ImageSettings(verify_on_serve=1.5)
    with pytest.raises(ConfigError, match="scrub_interval"):
        ImageSettings(scrub_interval=-1)


async def test_served_corrupt_chunk_is_refused_and_quarantined(tmp_path: Path) -> None:
    settings = ImageSettings(chunk_size=CHUNK, verify_on_serve=1.0)
    async with hub_server(tmp_path, settings) as hub:
        data = os.urandom(3 * CHUNK)
        result = await ingest_image([data], hub.store, settings, disk_format="raw")
        hub.manifests.save("img", result.manifest)
        bad = result.manifest.chunks[1]
        _rot(hub.store, bad)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.get(f"{hub.url}/v1/images/img/chunks/{bad}") as resp:
                assert resp.status == 503
                assert (await resp.json())["error"]["code"] == "chunk_quarantined"
            assert hub.store.quarantined(bad)
            async with http.get(f"{hub.url}/v1/images/img/file") as resp:
                assert resp.status == 503  # known bad before any byte is sent
            good = result.manifest.chunks[0]
            async with http.get(f"{hub.url}/v1/images/img/chunks/{good}") as resp:
                assert resp.status == 200 and await resp.read() == data[:CHUNK]


async def test_an_upload_body_that_stalls_is_refused(unused_tcp_port: int) -> None:
    async def handler(request: web.Request) -> web.Response:
        got = 0
        try:
            async for block in request_blocks(request, idle_timeout=0.3):
                got += len(block)
        except UploadStalled as exc:
            return web.json_response({"code": exc.code, "got": got}, status=exc.http_status)
        return web.json_response({"got": got})

    app = web.Application()
    app.router.add_put("/up", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
        writer.write(
            b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" + b"x" * 1024
        )
        await writer.drain()
        head = await asyncio.wait_for(_read_reply(reader), timeout=30)
        assert head.startswith(b"HTTP/1.1 408")
        assert b'"upload_stalled"' in head and b'"got": 1024' in head
        writer.close()
        await writer.wait_closed()
    finally:
        await runner.cleanup()


async def _read_reply(reader: asyncio.StreamReader) -> bytes:
    out = b""
    async for line in _lines(reader):
        out += line
        if out.endswith(b"}"):
            return out
    return out


async def _lines(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while chunk := await reader.read(4096):
        yield chunk
