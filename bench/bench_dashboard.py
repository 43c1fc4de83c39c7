"""The dashboard's fleet overview with 1,000 sites: simulated sites (real joins, real mTLS
sync sessions heartbeating; :mod:`atoll.testbed.simulated`) against a real ``atoll hub
serve`` on SQLite, each site given a region and a location (so the answer carries the region
grid and a map point per site).

- ``dashboard_fleet_server_ms_<N>_sites``: the hub's own time for ``GET /ui/fleet?limit=200``
  (what the page asks for: counts, region grid, map points, the first 200 rows), from its
  ``Server-Timing`` header, median of 20. Baseline: 200 ms (issue #14's bound).
- ``dashboard_fleet_payload_kb_<N>_sites``: that answer's size. Baseline: 200 KB (issue #14).
- ``dashboard_fleet_all_rows_*``: the same with every site's row (``limit=1000``).
N is ``ATOLL_BENCH_SIM_SITES`` (default 1000).
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from atoll.testbed.simulated import Fleet
from bench.report import emit
from tests.security.daemons import RunningHub

RUNS = 20


def _locate(hub: RunningHub, names: list[str]) -> None:
    for i, name in enumerate(names):
        where = {"latitude": -60 + (i * 7.3) % 120, "longitude": -170 + (i * 13.7) % 340}
        hub.ok("PATCH", f"/v1/sites/{name}", {"region": f"region-{i % 12:02d}", "location": where})


def _fleet(hub: RunningHub, limit: int) -> tuple[float, int]:
    reply = hub.call("GET", f"/ui/fleet?limit={limit}")
    assert reply.status == 200, reply
    timing = re.search(r"dur=([0-9.]+)", reply.headers["Server-Timing"])
    assert timing is not None
    return float(timing.group(1)), len(reply.raw)


async def _measure(hub: RunningHub, count: int) -> None:
    fleet = Fleet(hub.url, hub.ca_file, hub.token)
    try:
        await fleet.join(count)
        names = [s["name"] for s in hub.ok("GET", "/v1/sites?limit=1000")["items"]]
        await asyncio.to_thread(_locate, hub, names)  # before they report (no racing writes)
        runner = asyncio.create_task(fleet.run())
        try:
            deadline = time.monotonic() + 600
            while fleet.connected < count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {fleet.connected} of {count} sites connected")
                await asyncio.sleep(0.5)
            for limit, label in ((200, ""), (1000, "all_rows_")):
                runs = [await asyncio.to_thread(_fleet, hub, limit) for _ in range(RUNS)]
                server_ms = statistics.median(r[0] for r in runs)
                size_kb = runs[-1][1] / 1024
                emit(f"dashboard_fleet_{label}server_ms_{count}_sites", round(server_ms, 1),
                     "ms", 200.0)  # fmt: skip
                emit(f"dashboard_fleet_{label}payload_kb_{count}_sites", round(size_kb, 1),
                     "KB", 200.0)  # fmt: skip
        finally:
            fleet.stop()
            await runner
    finally:
        fleet.close()


def main() -> None:
    count = int(os.environ.get("ATOLL_BENCH_SIM_SITES", "1000"))
    with tempfile.TemporaryDirectory(prefix="atoll-bench-dash-", dir="/var/tmp") as tmp:
        hub = RunningHub.start(Path(tmp), config="[hub]\nzeroconf = false\n")
        try:
            asyncio.run(_measure(hub, count))
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
