"""One behavioural suite for every StorageDriver: LocalStorage (real qemu-img) and the fake.

What the agent core relies on (see ``storage/base.py``) is asserted here against both, so
the fake cannot drift from the real driver.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from atoll.site_agent.drivers.storage.base import ObjectKind, StorageDriver
from atoll.site_agent.drivers.storage.errors import (
    ChecksumMismatch,
    ImageCacheFull,
    InsufficientSpace,
    InvalidStorageRequest,
    StorageConflict,
    StorageNotFound,
)
from atoll.site_agent.drivers.storage.fake import FakeStorage
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings

MiB = 1024 * 1024
GiB = 1024 * MiB


@pytest.fixture(params=[pytest.param("local", marks=pytest.mark.integration), pytest.param("fake")])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    if request.param == "local":
        settings = LocalStorageSettings(root=tmp_path / "storage", capacity_gb=256 * MiB / GiB)
        return LocalStorage(settings)
    return FakeStorage(root=tmp_path / "fake", total_bytes=256 * MiB)


CACHE_CAP = 3 * MiB + MiB // 2  # room for three 1 MiB images


@pytest.fixture(params=[pytest.param("local", marks=pytest.mark.integration), pytest.param("fake")])
def capped(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    """A driver whose image cache holds three of :func:`add_mib`'s images."""
    if request.param == "local":
        root = tmp_path / "storage"
        return LocalStorage(LocalStorageSettings(root=root, image_cache_max_gb=CACHE_CAP / GiB))
    return FakeStorage(root=tmp_path / "fake", image_cache_bytes=CACHE_CAP)


async def add_mib(
    driver: StorageDriver, tmp_path: Path, image_id: str, pinned: tuple[str, ...] = ()
) -> Path:
    """Add a 1 MiB raw image (fully allocated: no holes) named ``image_id``."""
    path = tmp_path / f"{image_id}.raw"
    data = image_id.encode().ljust(16, b"!") * (MiB // 16)
    path.write_bytes(data)
    await driver.add_image(image_id, path, hashlib.sha256(data).hexdigest(), pinned=pinned)
    return path


async def cached_ids(driver: StorageDriver) -> list[str]:
    return [i.image_id for i in await driver.list_images()]


@pytest.fixture
def image(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "image.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "32M"], check=True)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


async def test_images_back_root_disks(driver: StorageDriver, image: tuple[Path, str]) -> None:
    cached = await driver.add_image("img", *image)
    assert (cached.image_id, cached.format, cached.virtual_size_bytes) == ("img", "qcow2", 32 * MiB)
    assert [i.image_id for i in await driver.list_images()] == ["img"]
    with pytest.raises(StorageConflict):
        await driver.add_image("img", image[0], "f" * 64)

    disk = await driver.create_root_disk("srv", "img")
    assert (disk.kind, disk.object_id, disk.backing_image_id) == (
        ObjectKind.ROOT_DISK,
        "srv",
        "img",
    )
    assert disk.path.name == "srv.qcow2" and disk.virtual_size_bytes == 32 * MiB
    assert await driver.get_root_disk("srv") == disk
    assert await driver.create_root_disk("srv", "img") == disk
    with pytest.raises(StorageConflict):
        await driver.remove_image("img")
    await driver.delete_root_disk("srv")
    with pytest.raises(StorageNotFound):
        await driver.get_root_disk("srv")
    await driver.remove_image("img")
    await driver.remove_image("img")
    with pytest.raises(StorageNotFound):
        await driver.get_image("img")


async def test_volumes_grow_snapshot_and_restore(driver: StorageDriver) -> None:
    vol = await driver.create_volume("v1", 16 * MiB)
    assert (vol.kind, vol.virtual_size_bytes, vol.path.name) == (
        ObjectKind.VOLUME,
        16 * MiB,
        "v1.qcow2",
    )
    assert (await driver.extend_volume("v1", 32 * MiB)).virtual_size_bytes == 32 * MiB
    with pytest.raises(InvalidStorageRequest):
        await driver.extend_volume("v1", 16 * MiB)
    with pytest.raises(InvalidStorageRequest):
        await driver.create_volume("v2", 1000)

    snap = await driver.snapshot_volume("v1", "s1")
    assert (snap.volume_id, snap.virtual_size_bytes) == ("v1", 32 * MiB)
    assert await driver.snapshot_volume("v1", "s1") == snap
    restored = await driver.create_volume("v2", 48 * MiB, snapshot_id="s1")
    assert restored.virtual_size_bytes == 48 * MiB
    with pytest.raises(InvalidStorageRequest):
        await driver.create_volume("v3", 16 * MiB, snapshot_id="s1")

    owned = {(o.kind, o.object_id, o.parent_id) for o in await driver.list_owned()}
    assert owned == {
        (ObjectKind.VOLUME, "v1", None),
        (ObjectKind.VOLUME, "v2", None),
        (ObjectKind.SNAPSHOT, "s1", "v1"),
    }
    await driver.delete_snapshot("s1")
    await driver.delete_volume("v1")
    await driver.delete_volume("v2")
    await driver.delete_volume("v2")
    assert await driver.list_owned() == []


async def test_capacity_and_overcommit(driver: StorageDriver) -> None:
    before = await driver.capacity()
    assert before.total_bytes == 256 * MiB and before.provisioned_bytes == 0
    await driver.create_volume("a", 200 * MiB)
    after = await driver.capacity()
    assert after.provisioned_bytes == 200 * MiB
    assert after.used_bytes >= before.used_bytes
    with pytest.raises(InsufficientSpace):
        await driver.create_volume("b", 100 * MiB)
    with pytest.raises(StorageNotFound):
        await driver.get_volume("b")
    await driver.delete_volume("a")
    assert (await driver.capacity()).provisioned_bytes == 0


async def test_cache_cap_evicts_the_least_recently_used_image(
    capped: StorageDriver, tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        await add_mib(capped, tmp_path, name)
    await capped.create_root_disk("srv", "a")  # a is used now: b is the oldest
    await capped.delete_root_disk("srv")
    await add_mib(capped, tmp_path, "d")
    assert await cached_ids(capped) == ["a", "c", "d"]
    cap = await capped.capacity()
    assert cap.images_cap_bytes == CACHE_CAP and 3 * MiB <= cap.images_bytes <= CACHE_CAP
    await add_mib(capped, tmp_path, "c")  # added again: used, nothing evicted
    await add_mib(capped, tmp_path, "e")
    assert await cached_ids(capped) == ["c", "d", "e"]


async def test_cache_cap_never_evicts_an_image_in_use(
    capped: StorageDriver, tmp_path: Path
) -> None:
    await add_mib(capped, tmp_path, "a")
    await capped.create_root_disk("srv", "a")  # a backs a root disk, and is the oldest
    await add_mib(capped, tmp_path, "b")
    await add_mib(capped, tmp_path, "c")
    await add_mib(capped, tmp_path, "d", pinned=("b",))  # a desired server names b
    assert await cached_ids(capped) == ["a", "b", "d"]
    assert (await capped.get_root_disk("srv")).backing_image_id == "a"


async def test_cache_full_of_images_in_use_refuses_and_changes_nothing(
    capped: StorageDriver, tmp_path: Path
) -> None:
    for name in ("a", "b", "c"):
        await add_mib(capped, tmp_path, name)
    await capped.create_root_disk("s1", "a")
    await capped.create_root_disk("s2", "b")
    with pytest.raises(ImageCacheFull) as err:
        await add_mib(capped, tmp_path, "d", pinned=("c",))
    assert str(CACHE_CAP) in err.value.message and "a, b, c" in err.value.message
    assert await cached_ids(capped) == ["a", "b", "c"]
    assert (tmp_path / "d.raw").is_file()  # the source is left for the caller
    await capped.delete_root_disk("s2")  # b is free now: it makes the room
    await add_mib(capped, tmp_path, "d", pinned=("c",))
    assert await cached_ids(capped) == ["a", "c", "d"]


# -- where an image may come from --------------------------------------------------------


async def test_a_file_in_incoming_dir_is_taken_over(
    driver: StorageDriver, image: tuple[Path, str]
) -> None:
    driver.incoming_dir.mkdir(parents=True, exist_ok=True)
    staged = driver.incoming_dir / "img.pull"
    staged.write_bytes(image[0].read_bytes())
    await driver.add_image("img", staged, image[1])
    assert not staged.exists()
    assert [i.image_id for i in await driver.list_images()] == ["img"]


async def test_a_file_outside_the_root_is_copied_not_moved(
    driver: StorageDriver, image: tuple[Path, str]
) -> None:
    await driver.add_image("img", *image)
    assert image[0].is_file() and hashlib.sha256(image[0].read_bytes()).hexdigest() == image[1]


async def test_another_objects_file_is_refused_unread(
    driver: StorageDriver, tmp_path: Path, image: tuple[Path, str]
) -> None:
    await driver.add_image("img", *image)
    vol = await driver.create_volume("v1", 16 * MiB)
    victims = [vol.path, (await driver.get_image("img")).path]
    if isinstance(driver, FakeStorage):  # the fake writes no files: put some where they'd be
        for path in victims:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(image[0].read_bytes())
    for path in victims:
        before = path.read_bytes()
        with pytest.raises(InvalidStorageRequest) as err:
            await driver.add_image("stolen", path, hashlib.sha256(before).hexdigest())
        assert "incoming dir" in str(err.value)
        assert path.read_bytes() == before
    assert await cached_ids(driver) == ["img"]
    assert (await driver.get_volume("v1")).virtual_size_bytes == 16 * MiB


async def test_symlinks_and_hard_links_are_refused(
    driver: StorageDriver, tmp_path: Path, image: tuple[Path, str]
) -> None:
    link = tmp_path / "link.qcow2"
    link.symlink_to(image[0])
    with pytest.raises(InvalidStorageRequest):
        await driver.add_image("linked", link, image[1])
    driver.incoming_dir.mkdir(parents=True, exist_ok=True)
    (driver.incoming_dir / "linked.pull").hardlink_to(image[0])
    with pytest.raises(InvalidStorageRequest):
        await driver.add_image("linked", driver.incoming_dir / "linked.pull", image[1])
    assert image[0].read_bytes() and await cached_ids(driver) == []


async def test_a_checksum_mismatch_does_not_say_the_checksum(
    driver: StorageDriver, image: tuple[Path, str]
) -> None:
    with pytest.raises(ChecksumMismatch) as err:
        await driver.add_image("img", image[0], "a" * 64)
    assert image[1] not in str(err.value) and "does not match" in str(err.value)
    assert await cached_ids(driver) == []


# -- what an image is ----------------------------------------------------------------------


def lying_qcow2(
    image: tuple[Path, str], tmp_path: Path, offset: int, value: bytes
) -> tuple[Path, str]:
    """The ``image`` fixture's qcow2 with ``value`` written over its header at ``offset``."""
    data = bytearray(image[0].read_bytes())
    data[offset : offset + len(value)] = value
    path = tmp_path / f"lying-{offset}-{value.hex()}.img"
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("version", [0, 1, 4])
async def test_a_qcow2_header_qemu_does_not_read_is_refused(
    driver: StorageDriver, image: tuple[Path, str], tmp_path: Path, version: int
) -> None:
    """Version 0 is raw to qemu-img and a 32 MiB qcow2 to a header parser: neither is kept."""
    source = lying_qcow2(image, tmp_path, 4, version.to_bytes(4, "big"))
    with pytest.raises(InvalidStorageRequest) as err:
        await driver.add_image("liar", *source)
    assert f"version {version}" in str(err.value) and "liar" in str(err.value)
    assert str(tmp_path) not in str(err.value), "no host path in what a client may see"
    assert await cached_ids(driver) == []


@pytest.mark.parametrize("size", [1 << 62, (1 << 63) + 12345])
async def test_an_absurd_virtual_size_is_refused(
    driver: StorageDriver, image: tuple[Path, str], tmp_path: Path, size: int
) -> None:
    source = lying_qcow2(image, tmp_path, 24, size.to_bytes(8, "big"))
    with pytest.raises(InvalidStorageRequest) as err:
        await driver.add_image("huge", *source)
    assert "virtual size" in str(err.value) and str(size) in str(err.value)
    assert str(tmp_path) not in str(err.value)
    assert await cached_ids(driver) == []


async def test_a_cached_images_format_and_size_are_the_checked_ones(
    driver: StorageDriver, image: tuple[Path, str], tmp_path: Path
) -> None:
    qcow2 = await driver.add_image("q", *image)
    await add_mib(driver, tmp_path, "r")
    raw = await driver.get_image("r")
    assert (qcow2.format, qcow2.virtual_size_bytes, qcow2.path.suffix) == (
        "qcow2",
        32 * MiB,
        ".qcow2",
    )
    assert (raw.format, raw.virtual_size_bytes, raw.path.suffix) == ("raw", MiB, ".raw")
    assert await driver.list_images() == [qcow2, raw]
