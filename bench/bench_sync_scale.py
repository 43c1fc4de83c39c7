"""How many sites one hub process holds: simulated sites (real joins, real mTLS sync
sessions and frames, heartbeats every 10 s; :mod:`atoll.testbed.simulated`) against a real
``atoll hub serve`` on SQLite, on this 2-core machine (the simulator shares it).

- ``sync_scale_hub_cpu_<N>_sites``: the hub process's CPU over a 30 s window once all N sites
  are online and idle (heartbeats only), in % of one core. Baseline: 50 %, the ceiling issue
  #11 sets for "holds" (ratio below 1 is within it).
- ``sync_scale_hub_rss_<N>_sites``: the hub's resident memory then, MB. Baseline: the same
  hub with no site connected, measured first.
- ``sync_scale_online_<N>_sites``: seconds from opening the first session to every site
  online at the hub (handshakes capped at 32 at once by the simulator). Baseline: N divided
  by the hub's own reconnect rate setting (what a restart's spread asks for).
N is ``ATOLL_BENCH_SIM_SITES`` (default 10,000: issue #11's goal, a hub process holding
them under 50 % of a core; the simulator then takes ~3.5 GB and the run ~3 minutes).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from atoll.hub.settings import HubSettings
from atoll.testbed.simulated import Fleet
from bench.report import cpu_seconds, emit
from tests.security.daemons import RunningHub

WINDOW = 30.0


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _measure(hub: RunningHub, pid: int, count: int) -> None:
    idle_rss = _rss_mb(pid)
    fleet = Fleet(hub.url, hub.ca_file, hub.token)
    try:
        await _hold(fleet, pid, count, idle_rss)
    finally:
        fleet.close()


async def _hold(fleet: Fleet, pid: int, count: int, idle_rss: float) -> None:
    await fleet.join(count)
    started = time.monotonic()
    runner = asyncio.create_task(fleet.run())
    try:
        deadline = time.monotonic() + 600
        while fleet.connected < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {fleet.connected} of {count} sites connected")
            await asyncio.sleep(0.5)
        online_after = time.monotonic() - started
        await asyncio.sleep(5)  # past the opening burst: heartbeats only
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(WINDOW)
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0) * 100
        rss = _rss_mb(pid)
        held = fleet.connected
    finally:
        fleet.stop()
        await runner
    if held < count:
        raise RuntimeError(f"{count - held} sites dropped their session during the window")
    emit(f"sync_scale_hub_cpu_{count}_sites", round(cpu, 1), "%", 50.0)
    emit(f"sync_scale_hub_rss_{count}_sites", round(rss, 1), "MB", round(idle_rss, 1))
    rate = HubSettings().sync_reconnect_rate
    emit(
        f"sync_scale_online_{count}_sites",
        round(online_after, 1),
        "s",
        round(max(1.0, count / rate), 1),
    )  # the spread a hub asks for: at least 1 s


def main() -> None:
    count = int(os.environ.get("ATOLL_BENCH_SIM_SITES", "10000"))
    with tempfile.TemporaryDirectory(prefix="atoll-bench-scale-", dir="/var/tmp") as tmp:
        hub = RunningHub.start(Path(tmp), config="[hub]\nzeroconf = false\n")
        try:
            assert hub.proc is not None
            asyncio.run(_measure(hub, hub.proc.pid, count))
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
