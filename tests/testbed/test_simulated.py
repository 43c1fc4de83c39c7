"""Simulated sites (:mod:`atoll.testbed.simulated`) against a real hub: real joins, real
mTLS sync sessions; the hub sees them online and sends them what is placed at them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from atoll.testbed.simulated import Fleet
from tests.hub.sync.test_sync_sessions import eventually
from tests.security.daemons import RunningHub

pytestmark = pytest.mark.integration


async def test_simulated_sites_join_hold_sessions_and_receive_intent(tmp_path: Path) -> None:
    hub = await asyncio.to_thread(
        RunningHub.start,
        tmp_path,
        config="[hub]\nzeroconf = false\nsync_heartbeat_interval = 1.0\n",
    )
    try:
        fleet = Fleet(hub.url, hub.ca_file, hub.token)
        await fleet.join(5)
        runner = asyncio.create_task(fleet.run())
        try:

            async def connected() -> bool:
                return fleet.connected == 5

            async def online() -> bool:
                sites = (await asyncio.to_thread(hub.ok, "GET", "/v1/sites?limit=100"))["items"]
                return bool(sum(s["state"] == "online" for s in sites) == 5)

            await eventually(connected, 60)
            await eventually(online, 60)
            await asyncio.to_thread(hub.ok, "POST", "/v1/projects", {"name": "p1"})
            body = {"name": "v1", "spec": {"size_gb": 1}, "project": "p1"}
            placed = await asyncio.to_thread(hub.ok, "POST", "/v1/sites/sim-00002/volumes", body)
            site = fleet.sites[2]

            async def delivered() -> bool:
                return f"volume/{placed['id']}" in site.keys

            await eventually(delivered, 60)
            assert all(f"volume/{placed['id']}" not in s.keys for s in fleet.sites if s is not site)
        finally:
            fleet.stop()
            await runner
            fleet.close()
    finally:
        await asyncio.to_thread(hub.stop)
