"""Assembling an image from its chunks, resumable: what a partial image is trusted for."""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
from pathlib import Path

import pytest

from atoll.images.assemble import Assembly, partial_path
from atoll.images.chunks import ChunkStore
from atoll.images.errors import TransferError
from atoll.images.manifest import Manifest

CHUNK = 64 * 1024


def manifest_of(pieces: list[bytes]) -> Manifest:
    whole = b"".join(pieces)
    digests = tuple(hashlib.sha256(p).hexdigest() for p in pieces)
    return Manifest(hashlib.sha256(whole).hexdigest(), len(whole), CHUNK, digests)


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    return ChunkStore(tmp_path / "chunks", CHUNK, fsync=False)


def test_a_cut_assembly_resumes_with_the_chunks_it_wrote(tmp_path: Path, store: ChunkStore) -> None:
    pieces = [os.urandom(CHUNK), bytes(CHUNK), os.urandom(CHUNK), os.urandom(CHUNK // 2)]
    manifest, dest = manifest_of(pieces), tmp_path / "img"
    first = Assembly(store, manifest, dest, resume=True)
    first.place(manifest.chunks[0], [pieces[0]])
    first.place(manifest.chunks[3], [pieces[3][:100], pieces[3][100:]])
    first.abort()  # cut
    assert partial_path(dest).stat().st_size == manifest.size and not dest.exists()
    again = Assembly(store, manifest, dest, resume=True)
    assert again.recover() == {manifest.chunks[0], manifest.chunks[3]}
    with pytest.raises(TransferError, match="never placed"):
        Assembly(store, manifest, tmp_path / "other", resume=True).finish()
    again.place(manifest.chunks[2], [pieces[2]])
    again.finish()
    assert dest.read_bytes() == b"".join(pieces) and not partial_path(dest).exists()


def test_a_partial_is_written_by_one_assembly_at_a_time(tmp_path: Path, store: ChunkStore) -> None:
    manifest = manifest_of([os.urandom(CHUNK)])
    first = Assembly(store, manifest, tmp_path / "img", resume=True)
    with pytest.raises(TransferError, match="another transfer"):
        Assembly(store, manifest, tmp_path / "img", resume=True)
    first.abort()
    Assembly(store, manifest, tmp_path / "img", resume=True).abort()


def test_a_partial_with_wrong_bytes_keeps_only_what_hashes(
    tmp_path: Path, store: ChunkStore
) -> None:
    pieces = [os.urandom(CHUNK), os.urandom(CHUNK)]
    manifest, dest = manifest_of(pieces), tmp_path / "img"
    rotten = bytearray(pieces[0] + pieces[1])
    rotten[CHUNK + 5] ^= 1  # the second chunk is off by one bit
    partial_path(dest).write_bytes(rotten)
    assert Assembly(store, manifest, dest, resume=True).recover() == {manifest.chunks[0]}


def test_data_where_the_image_has_a_hole_is_not_its_partial(
    tmp_path: Path, store: ChunkStore
) -> None:
    pieces = [os.urandom(CHUNK), bytes(CHUNK)]
    manifest, dest = manifest_of(pieces), tmp_path / "img"
    partial_path(dest).write_bytes(pieces[0] + os.urandom(CHUNK))  # another image, same size
    again = Assembly(store, manifest, dest, resume=True)
    assert again.recover() == set()  # even its first chunk, which hashes right
    again.place(manifest.chunks[0], [pieces[0]])
    again.finish()
    assert dest.read_bytes() == b"".join(pieces)


def test_without_resume_a_given_up_assembly_leaves_nothing(
    tmp_path: Path, store: ChunkStore
) -> None:
    manifest = manifest_of([os.urandom(CHUNK)])
    assembly = Assembly(store, manifest, tmp_path / "img")
    assembly.place(manifest.chunks[0], [b"x" * CHUNK])
    assembly.abort()
    assert list(tmp_path.iterdir()) == [tmp_path / "chunks"]


@pytest.mark.parametrize("direct", [True, False], ids=["o-direct", "fs-refuses-o-direct"])
def test_aligned_receive_buffers_go_direct_and_the_rest_buffered(
    tmp_path: Path, store: ChunkStore, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    pieces = [os.urandom(CHUNK), os.urandom(CHUNK), bytes(CHUNK), os.urandom(CHUNK // 2 + 1)]
    manifest, dest = manifest_of(pieces), tmp_path / "img"
    real_open, direct_fds = os.open, []

    def fs_open(path: Path, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT and not direct:
            raise OSError(errno.EINVAL, "O_DIRECT not supported")
        fd = real_open(path, flags, mode)
        if flags & os.O_DIRECT:
            direct_fds.append(fd)
        return fd

    monkeypatch.setattr(os, "open", fs_open)
    real_pwritev = os.pwritev
    direct_writes: list[int] = []

    def pwritev(fd: int, buffers: list[memoryview], offset: int) -> int:
        if fd in direct_fds:
            direct_writes.append(offset)
        return real_pwritev(fd, buffers, offset)

    monkeypatch.setattr(os, "pwritev", pwritev)
    assembly = Assembly(store, manifest, dest)
    received = mmap.mmap(-1, CHUNK)  # a receive buffer: page-aligned
    for i in (0, 1):
        received[:] = pieces[i]
        assembly.place(manifest.chunks[i], [memoryview(received)])
    assembly.place(manifest.chunks[3], [memoryview(bytearray(pieces[3]))])  # short: buffered
    assembly.finish()
    assert dest.read_bytes() == b"".join(pieces)
    assert direct_writes == ([0, CHUNK] if direct else [])
