"""Capacity checks on server creation: the arithmetic, and the API refusing what cannot fit."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.site_agent.capacity import AllocationRatios, Claim, HostCapacity, check_fits
from atoll.site_agent.catalog import StorageCatalog
from atoll.site_agent.drivers.compute.fake import FakeCompute
from atoll.site_agent.drivers.storage.fake import FakeStorage
from atoll.site_agent.errors import InsufficientCapacity
from atoll.site_agent.resources import Resources
from atoll.site_agent.store import LocalStore

GiB = 1024**3


def test_only_the_short_resources_are_named_with_how_much() -> None:
    totals = Claim(vcpus=8, ram_mb=4096, disk_bytes=10 * GiB)
    used = Claim(vcpus=6, ram_mb=1024, disk_bytes=GiB)
    check_fits("s", Claim(2, 3072, 9 * GiB), used, totals)  # exactly full is fine
    with pytest.raises(InsufficientCapacity) as err:
        check_fits("server 'x'", Claim(4, 1024, 12 * GiB), used, totals)
    message = str(err.value)
    assert "vcpus: needs 4, 2 free of 8 allocatable (2 short)" in message
    assert "root disk: needs 12288 MB, 9216 MB free of 10240 MB allocatable (3072 MB short)" in (
        message
    )
    assert "ram_mb" not in message


async def test_host_totals_apply_the_ratios_and_the_reserve() -> None:
    compute = FakeCompute(cpus=4, memory_mb=8192)
    storage = FakeStorage(total_bytes=100 * GiB)
    ratios = AllocationRatios(cpu=4.0, ram=1.5, disk=2.0, reserved_host_memory_mb=512)
    totals = await HostCapacity(compute, storage, ratios).totals()
    assert totals == Claim(vcpus=16, ram_mb=int(7680 * 1.5), disk_bytes=200 * GiB)


async def test_servers_are_refused_once_the_host_is_full(tmp_path: Path) -> None:
    store = await LocalStore(tmp_path / "agent.db").open()
    try:
        storage = FakeStorage(total_bytes=100 * GiB)
        storage.preload_image("img", 1024, virtual_size_bytes=GiB)
        ratios = AllocationRatios(cpu=1.0, reserved_host_memory_mb=0)
        capacity = HostCapacity(FakeCompute(cpus=2, memory_mb=1024), storage, ratios)
        resources = Resources(store, StorageCatalog(storage), capacity=capacity)
        await store.call(resources.seed_blocking)  # tiny: 1 vCPU, 128 MB
        await resources.create_server({"name": "a", "flavor": "tiny", "image": "img"})
        await resources.create_server({"name": "b", "flavor": "tiny", "image": "img"})
        with pytest.raises(InsufficientCapacity, match="vcpus: needs 1, 0 free of 2"):
            await resources.create_server({"name": "c", "flavor": "tiny", "image": "img"})
        assert [s["name"] for s in await resources.list_kind("server")] == ["a", "b"]
        await resources.delete("server", "a")  # a server being deleted holds nothing more
        await resources.create_server({"name": "c", "flavor": "tiny", "image": "img"})
    finally:
        await store.close()
