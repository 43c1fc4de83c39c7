"""LocalStorage against real qemu-img, in a temporary directory."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll.site_agent.drivers.storage import qcow2
from atoll.site_agent.drivers.storage.base import ObjectKind
from atoll.site_agent.drivers.storage.errors import (
    ChecksumMismatch,
    InsufficientSpace,
    InvalidStorageRequest,
    StorageConflict,
    StorageNotFound,
    StoragePermanent,
)
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings

MiB = 1024 * 1024
GiB = 1024 * MiB


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a host tool (qemu-img, qemu-io) as a person would; output captured."""
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def qemu_img_info(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


@pytest.fixture
def image_file(tmp_path: Path) -> tuple[Path, str]:
    """A 16 MiB qcow2 image with 1 MiB of data, and its sha256."""
    path = tmp_path / "src" / "cirros-ish.qcow2"
    path.parent.mkdir()
    raw = tmp_path / "src" / "data.raw"
    raw.write_bytes(b"atoll" * (MiB // 5) + b"\0" * (15 * MiB + MiB % 5))
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(path)], check=True)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(LocalStorageSettings(root=tmp_path / "storage"))


@pytest.mark.integration
async def test_root_disk_is_an_overlay_on_the_cached_image(
    storage: LocalStorage, image_file: tuple[Path, str], tmp_path: Path
) -> None:
    source, sha = image_file
    image = await storage.add_image("img-1", source, sha)
    assert (image.format, image.virtual_size_bytes, image.sha256) == ("qcow2", 16 * MiB, sha)
    assert source.exists(), "a file outside the storage root is copied, not moved"
    assert await storage.add_image("img-1", source, sha) == image  # idempotent

    disk = await storage.create_root_disk("srv-1", "img-1", size_bytes=64 * MiB)
    info = qemu_img_info(disk.path)
    assert info["backing-filename"] == str(image.path)
    assert info["backing-filename-format"] == "qcow2"
    assert info["virtual-size"] == 64 * MiB == disk.virtual_size_bytes
    assert disk.backing_image_id == "img-1"
    assert disk.allocated_bytes < MiB, "an overlay allocates almost nothing"
    assert await storage.create_root_disk("srv-1", "img-1", size_bytes=64 * MiB) == disk
    with pytest.raises(StorageConflict):
        await storage.create_root_disk("srv-1", "img-1", size_bytes=128 * MiB)
    with pytest.raises(InvalidStorageRequest, match="smaller than image img-1"):
        await storage.create_root_disk("srv-2", "img-1", size_bytes=8 * MiB)

    with pytest.raises(StorageConflict, match="srv-1"):
        await storage.remove_image("img-1")
    await storage.delete_root_disk("srv-1")
    await storage.delete_root_disk("srv-1")
    await storage.remove_image("img-1")
    assert await storage.list_owned() == []


@pytest.mark.integration
async def test_images_are_verified_before_they_are_cached(
    storage: LocalStorage, image_file: tuple[Path, str], tmp_path: Path
) -> None:
    source, sha = image_file
    with pytest.raises(ChecksumMismatch, match="declared sha256 does not match"):
        await storage.add_image("img", source, "0" * 64)
    with pytest.raises(InvalidStorageRequest, match="cannot be opened"):
        await storage.add_image("img", tmp_path / "missing.qcow2", sha)
    with pytest.raises(InvalidStorageRequest, match="not usable"):
        await storage.add_image("../escape", source, sha)
    overlay = tmp_path / "has-backing.qcow2"
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(source), str(overlay))
    with pytest.raises(InvalidStorageRequest, match="qcow2 with a backing file"):
        await storage.add_image("bad", overlay, hashlib.sha256(overlay.read_bytes()).hexdigest())
    # a qcow2 whose data lives in another host file would hand that file to a guest
    external = tmp_path / "external.qcow2"
    opts = f"data_file={tmp_path / 'data.raw'}"
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-o", opts, str(external), "1M")
    with pytest.raises(InvalidStorageRequest, match="qcow2 with an external data file"):
        await storage.add_image("bad", external, hashlib.sha256(external.read_bytes()).hexdigest())
    assert not list(storage.incoming_dir.iterdir()), "a refused copy is not left behind"
    with pytest.raises(StorageNotFound):
        await storage.create_root_disk("srv", "img")
    assert await storage.list_images() == []

    # what a fetcher wrote into incoming_dir is moved into the cache, not copied
    incoming = storage.incoming_dir / "fetched.part"
    incoming.write_bytes(source.read_bytes())
    image = await storage.add_image("img", incoming, sha)
    assert not incoming.exists() and image.path.exists()


@pytest.mark.integration
async def test_storage_is_private_to_the_agents_user(
    tmp_path: Path, image_file: tuple[Path, str]
) -> None:
    root = tmp_path / "private"
    storage = LocalStorage(LocalStorageSettings(root=root))
    image = await storage.add_image("img", *image_file)
    assert image.path.stat().st_mode & 0o777 == 0o400
    dirs = [root, *(root / d for d in ("images", "disks", "volumes", "snapshots", "tmp"))]
    assert all(d.stat().st_mode & 0o777 == 0o700 for d in dirs)
    # an install made before: world-readable dirs and images are tightened at start
    root.chmod(0o755)
    image.path.chmod(0o444)
    LocalStorage(LocalStorageSettings(root=root))
    assert (root.stat().st_mode & 0o777, image.path.stat().st_mode & 0o777) == (0o700, 0o400)


@pytest.mark.integration
async def test_volume_lifecycle_extend_and_snapshot(storage: LocalStorage) -> None:
    volume = await storage.create_volume("vol-1", 8 * MiB)
    assert qemu_img_info(volume.path)["virtual-size"] == 8 * MiB
    assert await storage.create_volume("vol-1", 8 * MiB) == volume
    with pytest.raises(StorageConflict):
        await storage.create_volume("vol-1", 16 * MiB)

    # the guest writes a marker at offset 1 MiB
    assert (
        sh("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", str(volume.path)).returncode == 0
    )
    extended = await storage.extend_volume("vol-1", 32 * MiB)
    assert extended.virtual_size_bytes == 32 * MiB == qemu_img_info(volume.path)["virtual-size"]
    with pytest.raises(InvalidStorageRequest, match="only grow"):
        await storage.extend_volume("vol-1", 16 * MiB)

    snap = await storage.snapshot_volume("vol-1", "snap-1")
    assert (snap.volume_id, snap.virtual_size_bytes) == ("vol-1", 32 * MiB)
    assert "backing-filename" not in qemu_img_info(snap.path), "a snapshot stands alone"
    assert [s.snapshot_id for s in await storage.list_snapshots("vol-1")] == ["snap-1"]

    await storage.delete_volume("vol-1")
    restored = await storage.create_volume("vol-2", 64 * MiB, snapshot_id="snap-1")
    assert restored.virtual_size_bytes == 64 * MiB
    check = sh("qemu-io", "-f", "qcow2", "-c", "read -P 0x5a 1M 64k", str(restored.path))
    assert check.returncode == 0 and "Pattern verification failed" not in check.stdout

    await storage.delete_snapshot("snap-1")
    await storage.delete_volume("vol-2")
    with pytest.raises(StorageNotFound):
        await storage.get_volume("vol-2")
    assert await storage.list_owned() == []


@pytest.mark.integration
async def test_capacity_counts_allocation_and_refuses_overcommit(
    tmp_path: Path, image_file: tuple[Path, str]
) -> None:
    settings = LocalStorageSettings(root=tmp_path / "s", capacity_gb=100 * MiB / GiB)
    storage = LocalStorage(settings)
    empty = await storage.capacity()
    assert (empty.total_bytes, empty.used_bytes, empty.provisioned_bytes) == (100 * MiB, 0, 0)

    source, sha = image_file
    image = await storage.add_image("img", source, sha)
    await storage.create_root_disk("srv", "img")  # 16 MiB provisioned
    await storage.create_volume("vol", 64 * MiB)
    cap = await storage.capacity()
    assert cap.provisioned_bytes == 80 * MiB
    assert cap.images_bytes == image.allocated_bytes > MiB
    owned = await storage.list_owned()
    assert cap.used_bytes == sum(o.allocated_bytes for o in owned)
    assert [(o.kind, o.object_id, o.parent_id) for o in owned] == [
        (ObjectKind.IMAGE, "img", None),
        (ObjectKind.ROOT_DISK, "srv", "img"),
        (ObjectKind.VOLUME, "vol", None),
    ]

    with pytest.raises(InsufficientSpace, match="83886080 already provisioned"):
        await storage.create_volume("big", 32 * MiB)
    with pytest.raises(InsufficientSpace):
        await storage.extend_volume("vol", 96 * MiB)
    assert [v.object_id for v in await storage.list_volumes()] == ["vol"]


@pytest.mark.integration
def test_a_restart_clears_work_left_in_progress(tmp_path: Path) -> None:
    settings = LocalStorageSettings(root=tmp_path / "s")
    storage = LocalStorage(settings)
    leftover = storage.incoming_dir / "vol-9.deadbeef"
    leftover.write_bytes(b"half a volume")
    partial = storage.incoming_dir / ".img-1.pull.part"  # a fetcher's, which it resumes from
    partial.write_bytes(b"half an image")
    LocalStorage(settings)
    assert not leftover.exists()
    assert partial.read_bytes() == b"half an image"


@given(st.binary(max_size=600))
def test_header_parser_never_fails_on_arbitrary_bytes(data: bytes) -> None:
    header = qcow2.parse(data, len(data))
    assert header.virtual_size >= 0


@pytest.mark.integration
def test_header_parser_agrees_with_qemu_img(tmp_path: Path) -> None:
    base = tmp_path / "base.raw"
    base.write_bytes(b"\0" * MiB)
    overlay = tmp_path / "o.qcow2"
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base), str(overlay), "3G")
    header = qcow2.read(overlay)
    assert (header.format, header.virtual_size, header.backing_file) == (
        "qcow2",
        3 * 1024**3,
        str(base),
    )
    assert qcow2.read(base).format == "raw"


@pytest.mark.integration
async def test_an_image_kept_as_raw_is_reported_and_used_as_raw(tmp_path: Path) -> None:
    """An image an older agent kept as raw though its header has the qcow2 magic (version 0,
    which qemu-img reads as raw) is what its file name says: raw, its length, and a root
    disk on it is an overlay on a raw backing file."""
    storage = LocalStorage(LocalStorageSettings(root=tmp_path / "s"))
    made = tmp_path / "v0.qcow2"
    sh("qemu-img", "create", "-q", "-f", "qcow2", str(made), "16M")
    data = bytearray(made.read_bytes())
    data[4:8] = (0).to_bytes(4, "big")
    kept = tmp_path / "s" / "images" / "old.raw"
    kept.write_bytes(data)
    kept.with_suffix(".sha256").write_text(hashlib.sha256(data).hexdigest() + "\n")

    image = await storage.get_image("old")
    assert (image.format, image.virtual_size_bytes) == ("raw", len(data))
    disk = await storage.create_root_disk("srv", "old", size_bytes=MiB)
    assert qemu_img_info(disk.path)["backing-filename-format"] == "raw"


@pytest.mark.integration
async def test_qemu_img_failures_name_files_not_host_paths(tmp_path: Path) -> None:
    """qemu-img names the files it was given; what reaches a server's status message or an
    API answer names them by their file names only (here under a root with a space)."""
    root = tmp_path / "agent data" / "storage"
    storage = LocalStorage(LocalStorageSettings(root=root))
    good = tmp_path / "good.qcow2"
    sh("qemu-img", "create", "-q", "-f", "qcow2", str(good), "16M")
    image = await storage.add_image("img", good, hashlib.sha256(good.read_bytes()).hexdigest())
    data = bytearray(good.read_bytes())
    data[20:24] = (40).to_bytes(4, "big")  # cluster_bits: damaged on disk after it was checked
    image.path.chmod(0o600)
    image.path.write_bytes(data)

    with pytest.raises(StoragePermanent) as err:
        await storage.create_root_disk("srv", "img")
    message = str(err.value)
    assert "cluster size" in message and "img.qcow2" in message, message
    assert str(tmp_path) not in message and "agent data" not in message, message
    assert not list(storage.incoming_dir.iterdir())
