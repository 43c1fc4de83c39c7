"""The telemetry ring: raw samples for an hour, minute averages for a day, nothing after."""

from __future__ import annotations

from pathlib import Path

from atoll.site_agent.ring import STEP, Ring
from atoll.site_agent.store import LocalStore

T0 = 28_333_333 * 60.0  # a minute boundary


async def test_retention_and_downsampling(tmp_path: Path) -> None:
    store = await LocalStore(tmp_path / "agent.db").open()
    try:
        ring = Ring(store, raw_retention=3600, rollup_retention=3 * 3600)
        labels = {"server": "vm1"}
        # four hours of one sample every 10 s; the value is the minute number, so every
        # minute average is known exactly
        for i in range(4 * 360):
            ts = T0 + i * 10
            await store.call(ring.record_blocking, ts, [("cpu", labels, float(i // 6))])
            if i % 30 == 29:  # compact every 5 minutes, as the collector does
                await store.call(ring.compact_blocking, ts)
        now = T0 + 4 * 3600 - 10
        await store.call(ring.compact_blocking, now)
        points = await store.call(ring.query_blocking, "cpu", labels, T0, now)
        raw = [p for p in points if p.resolution == 0]
        rolled = [p for p in points if p.resolution == STEP]
        # the last hour stays raw, at 10 s
        assert len(raw) == 361  # [now - 1 h, now], both ends included
        assert raw[0].ts >= now - 3600
        # before that, minute averages back to the rollup retention (3 h), not further
        assert 119 <= len(rolled) <= 121
        assert rolled[0].ts >= now - 3 * 3600 - STEP
        for p in rolled:
            assert p.value == (p.ts - T0) // 60  # the exact minute average, across compactions
        # other series are not mixed in
        assert await store.call(ring.query_blocking, "cpu", {"server": "vm2"}, T0, now) == []
        assert await store.call(ring.series_blocking) == [("cpu", labels)]
    finally:
        await store.close()


async def test_a_minute_folded_in_two_goes_keeps_the_true_average(tmp_path: Path) -> None:
    store = await LocalStore(tmp_path / "agent.db").open()
    try:
        ring = Ring(store, raw_retention=60, rollup_retention=86400)
        await store.call(ring.record_blocking, T0 + 0, [("m", {}, 1.0)])
        await store.call(ring.record_blocking, T0 + 10, [("m", {}, 2.0)])
        await store.call(ring.compact_blocking, T0 + 75)  # folds the first two
        await store.call(ring.record_blocking, T0 + 50, [("m", {}, 6.0)])
        await store.call(ring.compact_blocking, T0 + 200)  # folds the late one into the same minute
        points = await store.call(ring.query_blocking, "m", {}, T0, T0 + 200)
        assert [(p.ts, p.value, p.resolution) for p in points] == [(T0, 3.0, STEP)]
    finally:
        await store.close()


async def test_minutes_still_raw_are_shipped_as_minute_points_once(tmp_path: Path) -> None:
    """The hub need not wait an hour (raw_retention) for a site's telemetry: whole minutes
    still held as raw samples go up averaged, and a compaction later sends nothing twice."""
    from atoll.site_agent.store.queues import QueuedFact

    store = await LocalStore(tmp_path / "agent.db").open()
    try:
        ring = Ring(store, raw_retention=3600, rollup_retention=86400)
        for i in range(18):  # three minutes of one sample every 10 s: values 0..17
            await store.call(ring.record_blocking, T0 + 10 * i, [("m", {}, float(i))])
        assert await store.call(ring.ship_blocking, T0 + 200) == 3  # three whole minutes
        await store.call(ring.compact_blocking, T0 + 7200)  # now they are rollups
        assert await store.call(ring.ship_blocking, T0 + 210) == 0
        facts: list[QueuedFact] = await store.call(store.outbox_after, 0, 100)
        points = [p for f in facts if f.type == "telemetry" for p in f.body["points"]]
        assert [(p[2], p[3], p[6]) for p in points] == [
            (T0, 2.5, 6),
            (T0 + STEP, 8.5, 6),
            (T0 + 2 * STEP, 14.5, 6),
        ]
    finally:
        await store.close()
