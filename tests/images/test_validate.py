"""Validation with the real qemu-img: formats, host-file-reading qcow2s, virtual size."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from atoll.images.chunks import ChunkStore
from atoll.images.errors import ImageRejected, ImageTooLarge
from atoll.images.manifest import ManifestDir, read_file_blocks
from atoll.images.settings import ImageSettings
from atoll.images.upload import IngestResult, ingest_image

pytestmark = pytest.mark.integration
SETTINGS = ImageSettings(chunk_size=1 << 20, validate_head_bytes=4 << 20)


def _qcow2(path: Path, *opts: str, size: str = "16M") -> Path:
    subprocess.run(["qemu-img", "create", "-f", "qcow2", *opts, str(path), size],
                   check=True, capture_output=True)  # fmt: skip
    return path


async def _upload(path: Path, store: ChunkStore, fmt: str) -> IngestResult:
    with path.open("rb") as fh:
        return await ingest_image(read_file_blocks(fh), store, SETTINGS, disk_format=fmt)


async def test_qcow2_and_raw_are_accepted_as_declared(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "store", SETTINGS.chunk_size, fsync=False)
    q = _qcow2(tmp_path / "a.qcow2", size="1G")
    result = await _upload(q, store, "qcow2")
    assert result.info.real_format == "qcow2" and result.info.virtual_size == 1 << 30
    raw = tmp_path / "k"
    raw.write_bytes(os.urandom(3 << 20))
    for fmt in ("raw", "aki", "ari"):
        assert (await _upload(raw, store, fmt)).info.virtual_size == 3 << 20


async def test_qcow2_with_a_host_backing_file_is_refused(tmp_path: Path) -> None:
    store, manifests = ChunkStore(tmp_path / "s", 1 << 20, fsync=False), ManifestDir(tmp_path / "m")
    q = _qcow2(tmp_path / "evil.qcow2", "-b", "/etc/shadow", "-F", "raw")
    with pytest.raises(ImageRejected) as err:
        await _upload(q, store, "qcow2")
    assert "backing file (/etc/shadow)" in str(err.value)
    assert any("host file" in p.what for p in err.value.problems)
    assert manifests.ids() == []


async def test_qcow2_with_an_external_data_file_is_refused(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "s", 1 << 20, fsync=False)
    q = _qcow2(tmp_path / "evil.qcow2", "-o", f"data_file={tmp_path / 'data.raw'}")
    with pytest.raises(ImageRejected, match="external data file"):
        await _upload(q, store, "qcow2")


async def test_declared_format_must_match_the_content(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "s", 1 << 20, fsync=False)
    q = _qcow2(tmp_path / "a.qcow2")
    with pytest.raises(ImageRejected, match="declared raw but the content is qcow2"):
        await _upload(q, store, "raw")
    with pytest.raises(ImageRejected, match="kernel and ramdisk images must be raw"):
        await _upload(q, store, "aki")
    with pytest.raises(ImageRejected, match="'vmdk' is not one of"):
        await _upload(q, store, "vmdk")


async def test_virtual_size_is_bounded(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "s", 1 << 20, fsync=False)
    q = _qcow2(tmp_path / "huge.qcow2", size="2T")  # a few hundred KiB on disk
    with pytest.raises(ImageTooLarge, match="virtual size"):
        await _upload(q, store, "qcow2")


def _patched(path: Path, offset: int, value: bytes) -> Path:
    data = bytearray(path.read_bytes())
    data[offset : offset + len(value)] = value
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("version", "fmt"), [(0, "raw"), (0, "qcow2"), (1, "qcow2"), (4, "qcow2")])
async def test_a_qcow2_header_qemu_does_not_read_is_refused(
    tmp_path: Path, version: int, fmt: str
) -> None:
    """Version 0 is raw to qemu-img (and qcow2 to a header parser); 1 and 4 it will not open."""
    store = ChunkStore(tmp_path / "s", 1 << 20, fsync=False)
    q = _patched(_qcow2(tmp_path / "v.qcow2"), 4, version.to_bytes(4, "big"))
    with pytest.raises(ImageRejected, match=f"qcow2 header says version {version}") as err:
        await _upload(q, store, fmt)
    assert str(tmp_path) not in str(err.value)


async def test_a_claimed_virtual_size_is_bounded_before_qemu_img_reads_it(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "s", 1 << 20, fsync=False)
    q = _patched(_qcow2(tmp_path / "huge.qcow2"), 24, (1 << 62).to_bytes(8, "big"))
    with pytest.raises(ImageTooLarge, match=f"{1 << 62} bytes is over"):
        await _upload(q, store, "qcow2")


async def test_what_qemu_img_cannot_read_is_refused_without_host_paths(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "s", 1 << 20, fsync=False)
    q = _patched(_qcow2(tmp_path / "bits.qcow2"), 20, (40).to_bytes(4, "big"))  # cluster_bits
    with pytest.raises(ImageRejected, match="cannot read the image") as err:
        await _upload(q, store, "qcow2")
    assert [p.what for p in err.value.problems] == ["Unsupported cluster size: 2^40"]
