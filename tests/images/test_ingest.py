"""Chunk store, manifests and the streaming ingest: dedup, limits, clean failures."""

from __future__ import annotations

import errno
import gc
import hashlib
import mmap
import os
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.images import direct_io, manifest
from atoll.images.chunks import ChunkStore
from atoll.images.errors import ChecksumMismatch, ImageTooLarge, TruncatedUpload
from atoll.images.manifest import Ingest, IngestLimits, Manifest, ManifestDir, ingest_stream

CHUNK = 64 * 1024
BIG = IngestLimits(max_size=1 << 40, max_chunks=1 << 20)


def _blocks(data: bytes, n: int = 10_000) -> list[bytes]:
    return [data[i : i + n] for i in range(0, len(data), n)]


async def _aiter(blocks: list[bytes]) -> AsyncIterator[bytes]:
    for b in blocks:
        yield b


async def test_ingest_splits_hashes_and_reassembles(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    data = os.urandom(5 * CHUNK + 123)
    m = await ingest_stream(Ingest(store, BIG), _aiter(_blocks(data)))
    assert m.sha256 == hashlib.sha256(data).hexdigest()
    assert m.size == len(data) and len(m.chunks) == 6
    assert m.chunk_length(5) == 123
    assert b"".join(store.read(c) for c in m.chunks) == data
    assert Manifest.from_json(m.to_json()) == m


@pytest.mark.parametrize("refused", [False, True], ids=["o-direct", "fs-refuses-o-direct"])
async def test_a_direct_store_writes_aligned_chunks_with_o_direct_and_the_rest_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    real_open, direct_opens = os.open, []

    def fs_open(path: Path, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            direct_opens.append(Path(path).name)
            if refused:
                raise OSError(errno.EINVAL, "O_DIRECT not supported")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", fs_open)
    store = ChunkStore(tmp_path, CHUNK, direct=True)
    data = os.urandom(3 * CHUNK) + bytes(CHUNK) + os.urandom(123)  # a hole, a short one
    m = await ingest_stream(Ingest(store, BIG), _aiter(_blocks(data)))
    assert b"".join(store.read(c) for c in m.chunks) == data
    # three full chunks direct (after a refusal: one try, then buffered), the short one and
    # the hole never
    assert len(direct_opens) == (1 if refused else 3)
    assert store.direct is not refused


async def test_an_uploads_bytes_are_copied_once_into_aligned_buffers_it_reuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each byte is copied once, on the feeding thread, into a page-aligned chunk buffer the
    chunk is hashed and written (O_DIRECT) from: the chunk store makes no copy of its own, the
    buffers are reused once their chunk is written (a few, however long the image), and they
    go with the ingest (nothing but the ingest holds them: no cycle waiting for the gc)."""
    ours: list[weakref.ref[mmap.mmap]] = []
    stores: list[int] = []
    real = direct_io.aligned_buffer

    def buffer(size: int) -> mmap.mmap:
        made = real(size)
        ours.append(weakref.ref(made))
        return made

    def store_buffer(size: int) -> mmap.mmap:
        stores.append(size)
        return real(size)

    monkeypatch.setattr(manifest, "aligned_buffer", buffer)
    monkeypatch.setattr(direct_io, "aligned_buffer", store_buffer)
    store = ChunkStore(tmp_path, CHUNK, direct=True)
    data = os.urandom(20 * CHUNK) + bytes(CHUNK) + os.urandom(7 * CHUNK + 123)
    ingest = Ingest(store, BIG, workers=2)
    m = await ingest_stream(ingest, _aiter(_blocks(data, 7_777)))
    assert b"".join(store.read(c) for c in m.chunks) == data
    assert m.sha256 == hashlib.sha256(data).hexdigest()
    assert store.path(m.chunks[20]).stat().st_blocks == 0  # the zero chunk: still a hole
    assert stores == []  # every full chunk written from the buffer it was received into
    assert 0 < len(ours) <= 2 * 2 + 2  # the chunks in flight, the one filling, one spare
    gc.disable()
    try:
        del ingest
        assert [r for r in ours if r() is not None] == []
    finally:
        gc.enable()


async def test_identical_chunks_are_stored_once(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    a = os.urandom(10 * CHUNK)
    b = a[: 9 * CHUNK] + os.urandom(CHUNK)  # shares 90% of a's chunks
    ma = await ingest_stream(Ingest(store, BIG), [a])
    mb = await ingest_stream(Ingest(store, BIG), [b])
    assert len(set(ma.chunks) & set(mb.chunks)) == 9
    assert len(list(store.digests())) == 11
    zeros = await ingest_stream(Ingest(store, BIG), [bytes(8 * CHUNK)])
    assert len(set(zeros.chunks)) == 1
    assert store.path(zeros.chunks[0]).stat().st_blocks == 0  # a hole, not 64 KiB of zeros


async def test_truncated_upload_leaves_no_manifest(tmp_path: Path) -> None:
    store, manifests = ChunkStore(tmp_path / "c", CHUNK, fsync=False), ManifestDir(tmp_path / "m")
    data = os.urandom(3 * CHUNK)
    with pytest.raises(TruncatedUpload, match="ended early"):
        await ingest_stream(Ingest(store, BIG, expected_size=4 * CHUNK), [data])
    assert manifests.ids() == []


async def test_wrong_checksum_fails_and_gc_collects_the_chunks(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    data = os.urandom(3 * CHUNK)
    with pytest.raises(ChecksumMismatch) as err:
        await ingest_stream(Ingest(store, BIG, expected_sha256="0" * 64), [data])
    assert hashlib.sha256(data).hexdigest() in str(err.value)
    assert store.gc(set(), grace_seconds=3600).removed == 0  # in-flight uploads are safe
    report = store.gc(set(), grace_seconds=3600, now=time.time() + 7200)
    assert report.removed == 3 and list(store.digests()) == []


async def test_oversized_image_is_refused_while_streaming(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    with pytest.raises(ImageTooLarge, match="too large"):
        await ingest_stream(Ingest(store, IngestLimits(2 * CHUNK, 100)), [bytes(3 * CHUNK)])
    with pytest.raises(ImageTooLarge, match="too many chunks"):
        await ingest_stream(Ingest(store, IngestLimits(1 << 30, 2)), [bytes(3 * CHUNK)])
    with pytest.raises(ImageTooLarge):  # a declared size over the limit fails before reading
        Ingest(store, IngestLimits(CHUNK, 10), expected_size=2 * CHUNK)


def test_gc_keeps_what_manifests_name(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    keep, drop = store.put(b"keep"), store.put(b"drop")
    report = store.gc({keep}, grace_seconds=0)
    assert (report.removed, store.has(keep), store.has(drop)) == (1, True, False)


def test_gc_deletes_quarantined_chunks_past_their_retention_only(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    old, new = store.put(b"old"), store.put(b"new")
    for digest in (old, new):
        store.path(digest).write_bytes(b"rotten " + digest.encode())
        assert store.quarantine(digest)
    aside = tmp_path / "quarantine"
    later = time.time() + 3600
    store.gc(set(), grace_seconds=0, now=later)  # no retention: kept for good
    assert sorted(p.name for p in aside.iterdir()) == sorted([old, new])
    os.utime(aside / old, (0, 0))  # mtime says nothing: it is when it was written
    store.gc(set(), grace_seconds=0, now=later, quarantine_retention=7200)
    assert sorted(p.name for p in aside.iterdir()) == sorted([old, new])
    store.gc(set(), grace_seconds=0, now=later + 3601, quarantine_retention=7200)
    assert list(aside.iterdir()) == []
    assert not store.quarantined(old) and not store.has(old)


def test_manifest_dir_round_trip_and_bad_ids(tmp_path: Path) -> None:
    d = ManifestDir(tmp_path)
    m = Manifest("a" * 64, 10, 4, ("b" * 64, "c" * 64, "d" * 64))
    d.save("img-1", m)
    assert d.load("img-1") == m and d.ids() == ["img-1"]
    assert d.live_chunks() == {"b" * 64, "c" * 64, "d" * 64}
    with pytest.raises(InvalidInput):
        d.save("../etc", m)


_VALUES = st.one_of(
    st.integers(-2, 5),
    st.sampled_from(["a" * 64, "x", ""]),
    st.lists(st.just("b" * 64), max_size=3),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(["version", "sha256", "size", "chunk_size", "chunks"]), _VALUES)
)
def test_manifest_parser_rejects_garbage_with_reasons(data: dict[str, object]) -> None:
    try:
        m = Manifest.from_json(data)
    except InvalidInput as exc:
        assert exc.problems
    else:
        assert m.size >= 0 and len(m.chunks) == -(-m.size // m.chunk_size)


def test_a_chunk_file_of_the_wrong_size_is_rewritten(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, CHUNK, fsync=False)
    digest = store.put(b"content")
    store.path(digest).write_bytes(b"")  # what a crash before writeback can leave
    assert store.put(b"content") == digest and store.read(digest) == b"content"
