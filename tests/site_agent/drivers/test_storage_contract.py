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
    InsufficientSpace,
    InvalidStorageRequest,
    StorageConflict,
    StorageNotFound,
)
from atoll.site_agent.drivers.storage.fake import FakeStorage
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings

MiB = 1024 * 1024


@pytest.fixture(params=[pytest.param("local", marks=pytest.mark.integration), pytest.param("fake")])
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> StorageDriver:
    if request.param == "local":
        settings = LocalStorageSettings(root=tmp_path / "storage", capacity_bytes=256 * MiB)
        return LocalStorage(settings)
    return FakeStorage(root=tmp_path / "fake", total_bytes=256 * MiB)


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
