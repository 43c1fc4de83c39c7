"""The hub's fleet telemetry ingest rate: points/s a telemetry keeper takes in.

- ``telemetry_ingest_points``: :meth:`TelemetryKeeper.ingest` of site batches (60 series
  per site, one minute each, as a site ships them; the file in WAL mode, as ``atoll hub
  serve`` opens it) against raw ``executemany`` inserts of the same rows into a table of
  the same shape in one transaction (the file's best case).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

from atoll import ids
from atoll.hub.telemetry.keeper import FIELDS, SCHEMA, TelemetryKeeper, labels_key
from bench.report import emit, median_of

RUNS = 3
SITES = 200
SERIES = 60
NOW = 1_899_999_960.0  # a whole minute: a site's telemetry points are on one


def _batch(minute: int) -> dict[str, object]:
    points = [[f"metric_{i % 12}", {"server": f"vm{i}"}, NOW + 60 * minute, 1.0, 0.5, 2.0, 6]
              for i in range(SERIES)]  # fmt: skip
    return {"step": 60, "fields": FIELDS, "points": points}


def keeper_rate() -> float:
    sites = [ids.hub_id() for _ in range(SITES)]

    async def run(directory: Path) -> float:
        # the hub's clock at the batches' time: a point later than a day ahead is refused
        keeper = TelemetryKeeper(directory / "telemetry.sqlite", 86400.0, lambda: NOW + 120.0)
        try:
            started = time.perf_counter()
            for minute in range(2):
                for site in sites:
                    await keeper.ingest(site, _batch(minute))
            return keeper.ingested / (time.perf_counter() - started)
        finally:
            keeper.close()

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(run(Path(tmp)))


def raw_rate() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(str(Path(tmp) / "raw.sqlite"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        rows = [(ids.hub_id(), f"metric_{i % 12}", labels_key({"server": f"vm{i}"}),
                 NOW + 60 * m, 1.0, 0.5, 2.0, 6)
                for m in range(2) for _ in range(SITES) for i in range(SERIES)]  # fmt: skip
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
        return len(rows) / elapsed


def main() -> None:
    emit("telemetry_ingest_points", median_of(RUNS, keeper_rate), "points/s",
         median_of(RUNS, raw_rate))  # fmt: skip


if __name__ == "__main__":
    main()
