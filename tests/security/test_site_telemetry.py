"""What a joined site's telemetry can make the running hub keep and show: bounded series.

A compromised or buggy site holds a real certificate and sends ``telemetry`` facts (here as
``atoll site-agent`` would, over mTLS, but saying what the test tells it). Each point was
bounded (16 labels, 256-character values, 4000 points a batch), the number of series was
not: every batch of new label values was 4000 more series kept for the retention (a week),
each one more line of the hub's ``/metrics`` and more rows of its telemetry store, without
end. Worse, ``/metrics`` padded every series with every label name its metric had at any
site, so series with label names of their own made the page grow as their square. Now a
site keeps at most ``[hub] site_series_limit`` series; points of new series beyond it are
refused (a ``refused_fact`` event, logged once a frame, the batch acknowledged) while its
series go on, and each series is shown with its own labels only.

The points of one series were not bounded either: a point's time was any number within the
retention (and a day ahead), so a site sent 4000 points of one series a batch at distinct
times, each one more row for the retention, without end. Now a series keeps one point a
minute, as the site's ring makes them: a point off the minute is left out (a
``refused_fact`` event), one sent again at its minute replaces itself, and one older than
the retention is not kept, so a series holds at most ``(retention + 1 day) / 60`` points.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atoll.hub.telemetry.keeper import FIELDS, MAX_AHEAD, labels_key
from tests.security.daemons import RunningHub, running_hub
from tests.security.test_site_facts import REFUSED, events, join, session

SERIES_LIMIT = 100
RETENTION = 3600  # seconds: a series keeps at most (RETENTION + MAX_AHEAD) / 60 points


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    config = f"[hub]\nsite_series_limit = {SERIES_LIMIT}\ntelemetry_retention = {RETENTION}\n"
    with running_hub(tmp_path_factory.mktemp("series-hub"), config=config) as running:
        yield running


def batch(series: list[dict[str, str]], ts: float, value: float = 1.0) -> dict[str, Any]:
    """One minute of ``series`` (their labels) of one metric, as a site's ring ships it."""
    points = [["probe_bytes", labels, ts, value, value, value, 6] for labels in series]
    return {"step": 60, "fields": FIELDS, "points": points}


def site_lines(hub: RunningHub, name: str) -> list[str]:
    """The hub's /metrics lines of the site's telemetry (``atoll_site_probe_bytes``)."""
    reply = hub.call("GET", "/metrics")
    assert reply.status == 200, reply
    assert len(reply.raw) < 4 << 20, f"/metrics is {len(reply.raw)} bytes"
    return [line for line in reply.raw.decode().splitlines()
            if line.startswith("atoll_site_probe_bytes{") and f'site="{name}"' in line]  # fmt: skip


async def test_series_beyond_the_limit_are_refused_and_the_sites_series_go_on(
    hub: RunningHub, tmp_path: Path
) -> None:
    joined = join(hub, tmp_path / "agent", "series-edge")
    name = joined[0]
    minute = (time.time() // 60 - 5) * 60
    # each series with 16 label names of its own: the worst a point may have
    own = [{f"k{i}_{j}": "v" for j in range(16)} for i in range(60)]
    flood = [{f"f{i}_{j}": "x" * 20 for j in range(16)} for i in range(600)]
    async with session(hub, joined) as site:
        await site.hello()
        await site.facts(("telemetry", batch(own, minute)))
        logged = hub.log.count(REFUSED)
        first = site.seq + 1
        acked = await site.facts(("telemetry", batch(own + flood, minute + 60, 2.0)),
                                 ("telemetry", batch(flood, minute + 120)),
                                 ("telemetry", batch(own, minute + 180, 3.0)))  # fmt: skip
        assert acked == first + 2  # every batch acknowledged: the outbox goes on
        assert hub.log.count(REFUSED) == logged + 1  # once for the frame
        lines = site_lines(hub, name)
        assert len(lines) == SERIES_LIMIT, len(lines)  # 660 before
        for labels in own:  # the site's own series go on, with their newest point
            key = next(iter(labels))
            shown = [line for line in lines if f'{key}="v"' in line]
            assert len(shown) == 1 and shown[0].endswith(" 3.0"), shown
            assert shown[0].count('="') == 17  # its labels and site, no other series' names
        kept = {e["seq"]: e for e in events(hub, name)}
        for seq, refused in ((first, 560), (first + 1, 560)):
            assert kept[seq]["reason"] == "refused_fact", kept[seq]
            assert f"{refused} points of {refused} new series" in kept[seq]["message"]
            assert "[hub] site_series_limit" in kept[seq]["message"]
        assert first + 2 not in kept  # nothing refused of the site's own series
        assert hub.ok("GET", f"/v1/sites/{name}")["state"] == "online"


def points_stored(hub: RunningHub, site_id: str, labels: dict[str, str]) -> int:
    """The points of one series of the site in the hub's telemetry file (observed, read-only)."""
    path = hub.data_dir / "telemetry.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        query = "SELECT count(*) FROM points WHERE site_id = ? AND metric = ? AND labels = ?"
        return int(db.execute(query, (site_id, "probe_bytes", labels_key(labels))).fetchone()[0])


def at(series: dict[str, str], times: list[float], step: int = 60) -> dict[str, Any]:
    """One series' points at ``times``, in one batch."""
    points = [["probe_bytes", series, ts, 1.0, 1.0, 1.0, 6] for ts in times]
    return {"step": step, "fields": FIELDS, "points": points}


async def test_a_series_keeps_one_point_a_minute_however_many_a_site_sends(
    hub: RunningHub, tmp_path: Path
) -> None:
    name, site_id, data = join(hub, tmp_path / "agent", "points-edge")
    series = {"server": "vm-1"}
    now = time.time() // 60 * 60
    bound = (RETENTION + MAX_AHEAD) // 60
    async with session(hub, (name, site_id, data)) as site:
        await site.hello()
        first = site.seq + 1
        # the agent's cadence: a minute a batch, and a catch-up batch of 10-minute buckets
        for minute in range(5):
            await site.facts(("telemetry", at(series, [now - 600 + 60 * minute])))
        await site.facts(("telemetry", at(series, [now // 600 * 600 - 1800, now // 600 * 600
                                                    - 1200], step=600)))  # fmt: skip
        honest = points_stored(hub, site_id, series)
        assert honest == 7
        # times between the minutes, all within the retention: 4000 more rows a batch before
        floods = [
            at(series, [now - 3000 + k * 0.1 + j * 0.5 + 0.25 for j in range(4000)])
            for k in range(3)
        ]
        flooded = site.seq + 1
        assert await site.facts(*[("telemetry", body) for body in floods]) == flooded + 2
        assert points_stored(hub, site_id, series) == honest  # 12,000 more before
        # whole minutes: back 66 hours (past the retention) and a day ahead, twice over
        back = at(series, [now - 60 * i for i in range(1, 4000)])
        ahead = at(series, [now + 60 * i for i in range(1439)])
        for _ in range(2):
            await site.facts(("telemetry", back), ("telemetry", ahead))
        stored = points_stored(hub, site_id, series)
        assert stored <= bound, (stored, bound)  # 7,998 + 2,878 more before
        assert stored > bound - 10  # the minutes within the retention, and a day ahead
    kept = {e["seq"]: e for e in events(hub, name)}
    assert not [seq for seq in kept if first <= seq < flooded]  # the cadence: nothing refused
    for seq in range(flooded, flooded + 3):
        assert kept[seq]["reason"] == "refused_fact", kept[seq]
        assert "4000 points left out: their time is not a whole minute" in kept[seq]["message"]
    assert not [seq for seq in kept if seq > flooded + 2]  # whole minutes: kept, not refused
