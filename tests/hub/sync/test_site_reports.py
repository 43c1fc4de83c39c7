"""A site's capacity and usage reach its hub record over the sync session: in the hello,
then in a ping only when they changed (pings alone write nothing)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from atoll.sync import frames
from tests.hub.sync.synchub import SyncHub, sync_hub

pytestmark = pytest.mark.integration


async def _usage(hub: SyncHub, name: str, vcpus: int) -> Any:
    async with asyncio.timeout(15):
        while True:
            record = await hub.site_record(name)
            if record["usage"]["vcpus"] == vcpus:
                return record
            await asyncio.sleep(0.05)


async def test_capacity_comes_with_the_hello_and_with_a_ping_when_it_changes(
    tmp_path: Path,
) -> None:
    async with sync_hub(tmp_path) as hub:
        edge = await hub.add_site("edge-1")
        before = await hub.site_record("edge-1")
        assert "reported_at" not in before  # never reported: placement takes it as unbounded
        site = await hub.connect(edge)
        report = frames.Capacity(vcpus=16, ram_mb=7680, disk_gb=100, used_vcpus=2,
                                 used_ram_mb=1024, used_disk_gb=10)  # fmt: skip
        assert isinstance(await site.hello(capacity=report), frames.Welcome)
        record = await hub.site_record("edge-1")
        assert record["capacity"] == {"vcpus": 16, "ram_mb": 7680, "disk_gb": 100}
        assert record["usage"] == {"vcpus": 2, "ram_mb": 1024, "disk_gb": 10}
        assert record["state"] == "online" and record["reported_at"]
        await site.send(frames.Ping(v=site.v))  # unchanged: a plain ping
        await site.until(frames.Pong)
        grown = frames.Capacity(vcpus=16, ram_mb=7680, disk_gb=100, used_vcpus=6,
                                used_ram_mb=3072, used_disk_gb=30)  # fmt: skip
        await site.send(frames.Ping(v=site.v, capacity=grown))
        await site.until(frames.Pong)
        record = await _usage(hub, "edge-1", 6)
        assert record["usage"] == {"vcpus": 6, "ram_mb": 3072, "disk_gb": 30}
        shown = await hub.ok("GET", "/v1/sites/edge-1")
        assert shown["usage"]["vcpus"] == 6 and shown["capacity"]["vcpus"] == 16
        await site.close()


async def test_a_site_that_does_not_report_keeps_its_figures(tmp_path: Path) -> None:
    """A version 1 site says nothing of its capacity: the hub leaves it unreported."""
    async with sync_hub(tmp_path) as hub:
        edge = await hub.add_site("edge-1")
        site = await hub.connect(edge)
        assert isinstance(await site.hello(speaks=(1,)), frames.Welcome)
        await site.send(frames.Ping(v=1))
        await site.until(frames.Pong)
        record = await hub.site_record("edge-1")
        assert record["state"] == "online" and "reported_at" not in record
        assert record["capacity"] == {"vcpus": 0, "ram_mb": 0, "disk_gb": 0}
        await site.close()


async def test_figures_beyond_any_site_are_refused_and_the_session_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """2^64-1 vCPUs (F5 in the security probe): not recorded, so placement and the fleet's
    figures never see it; logged; the session is not refused (the site would say it again in
    every hello, and never sync)."""
    async with sync_hub(tmp_path) as hub:
        edge = await hub.add_site("edge-1")
        site = await hub.connect(edge)
        huge = {"vcpus": 2**64 - 1, "ram_mb": 7680, "disk_gb": 100}
        assert isinstance(await site.hello(capacity=huge), frames.Welcome)
        record = await hub.site_record("edge-1")
        assert record["state"] == "online" and "reported_at" not in record
        assert record["capacity"] == {"vcpus": 0, "ram_mb": 0, "disk_gb": 0}
        assert "capacity report refused" in caplog.text and "hello.capacity.vcpus" in caplog.text
        good = frames.Capacity(vcpus=16, ram_mb=7680, disk_gb=100, used_vcpus=2)
        await site.send(frames.Ping(v=site.v, capacity=good))
        await site.until(frames.Pong)
        record = await _usage(hub, "edge-1", 2)
        assert record["capacity"] == {"vcpus": 16, "ram_mb": 7680, "disk_gb": 100}
        await site.send(frames.Ping(v=site.v, capacity={**huge, "used_ram_mb": 2**63}))
        await site.until(frames.Pong)  # the figures it had stay; the session goes on
        await site.send(frames.Ping(v=site.v, capacity=good.within_bounds()))
        await site.until(frames.Pong)
        assert (await hub.site_record("edge-1"))["capacity"]["vcpus"] == 16
        await site.close()
