"""The local time-series ring: raw samples for a while, then 1-minute averages, then gone.

Kept in the agent's SQLite (tables ``samples`` and ``rollups``) so hours cut off from the
hub are not lost: the sync session ships them when the link is back.

- :meth:`Ring.record_blocking` appends raw samples ``(metric, labels, value)`` at a timestamp.
- :meth:`Ring.compact_blocking` folds raw samples older than ``raw_retention`` into per-minute
  rollups (avg, min, max, count; a minute folded in two goes merges by count) and deletes
  them, then drops rollups older than ``rollup_retention``.
- :meth:`Ring.query_blocking` returns one series over a time range, raw where raw is still kept
  and minute averages before that, oldest first.
- :meth:`Ring.ship_blocking` queues the minutes the hub has not had (rollups, and the raw
  samples of minutes not folded yet, averaged per minute) as one ``telemetry`` fact in the
  sync outbox: minute points when they are recent, coarser buckets when catching up
  (back from hours offline), at most :data:`MAX_POINTS` points a batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from atoll.site_agent.store import LocalStore
from atoll.site_agent.store.queues import add_fact
from atoll.sync import frames

STEP = float(frames.POINT_STEP)  # a minute: the hub keeps one point a series a minute
MAX_POINTS = frames.MAX_POINTS  # points in one telemetry batch (what the hub takes)
BUCKETS = 10  # a catch-up batch gives each series at most this many points


@dataclass(frozen=True)
class Point:
    ts: float
    value: float
    resolution: float  # 0 for a raw sample, STEP for a minute average


# the minutes in (since, until]: rollups, and minutes still held as raw samples (folded here
# on the fly, so the hub need not wait raw_retention for them); a minute split between the
# two by a compaction comes twice, and the batch's GROUP BY merges it by count
_MINUTES = """(
    SELECT metric, labels, ts, avg, min, max, count FROM rollups WHERE ts > ? AND ts <= ?
    UNION ALL
    SELECT metric, labels, CAST(ts / ? AS INTEGER) * ? AS ts, avg(value) AS avg,
           min(value) AS min, max(value) AS max, count(*) AS count FROM samples
    WHERE CAST(ts / ? AS INTEGER) * ? > ? AND CAST(ts / ? AS INTEGER) * ? <= ?
    GROUP BY metric, labels, CAST(ts / ? AS INTEGER))"""


def labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


class Ring:
    def __init__(
        self, store: LocalStore, raw_retention: float = 3600.0, rollup_retention: float = 86400.0
    ) -> None:
        self.store = store
        self.raw_retention = raw_retention
        self.rollup_retention = rollup_retention

    def record_blocking(
        self, ts: float, samples: Iterable[tuple[str, Mapping[str, str], float]]
    ) -> int:
        rows = [(metric, labels_key(labels), ts, float(value)) for metric, labels, value in samples]
        with self.store.tx() as c:
            c.executemany(
                "INSERT INTO samples(metric, labels, ts, value) VALUES (?, ?, ?, ?)", rows
            )
        return len(rows)

    def compact_blocking(self, now: float) -> tuple[int, int]:
        """Returns (raw samples folded, rollups dropped)."""
        cutoff = now - self.raw_retention
        with self.store.tx() as c:
            c.execute(
                """
                INSERT INTO rollups(metric, labels, ts, avg, min, max, count)
                SELECT metric, labels, CAST(ts / ? AS INTEGER) * ?, avg(value), min(value),
                       max(value), count(*)
                FROM samples WHERE ts < ? GROUP BY metric, labels, CAST(ts / ? AS INTEGER)
                ON CONFLICT(metric, labels, ts) DO UPDATE SET
                    avg = (avg * count + excluded.avg * excluded.count)
                          / (count + excluded.count),
                    min = min(min, excluded.min), max = max(max, excluded.max),
                    count = count + excluded.count
                """,
                (STEP, STEP, cutoff, STEP),
            )
            folded = c.execute("DELETE FROM samples WHERE ts < ?", (cutoff,)).rowcount
            dropped = c.execute(
                "DELETE FROM rollups WHERE ts < ?", (now - self.rollup_retention,)
            ).rowcount
        return folded, dropped

    def query_blocking(
        self, metric: str, labels: Mapping[str, str], since: float, until: float
    ) -> list[Point]:
        key = labels_key(labels)
        conn = self.store.conn
        rolled = conn.execute(
            "SELECT ts, avg FROM rollups WHERE metric = ? AND labels = ? AND ts >= ? AND ts <= ?"
            " ORDER BY ts",
            (metric, key, since - STEP, until),
        ).fetchall()
        raw = conn.execute(
            "SELECT ts, value FROM samples WHERE metric = ? AND labels = ? AND ts >= ? AND ts <= ?"
            " ORDER BY ts",
            (metric, key, since, until),
        ).fetchall()
        points = [Point(float(t), float(v), STEP) for t, v in rolled if t + STEP > since]
        points += [Point(float(t), float(v), 0.0) for t, v in raw]
        return sorted(points, key=lambda p: p.ts)

    def series_blocking(self) -> list[tuple[str, dict[str, str]]]:
        rows = self.store.conn.execute(
            "SELECT DISTINCT metric, labels FROM samples UNION SELECT DISTINCT metric, labels"
            " FROM rollups ORDER BY 1, 2"
        ).fetchall()
        return [(m, json.loads(lbl)) for m, lbl in rows]

    def ship_blocking(self, now: float) -> int:
        """Queue the rollups after the last batch as one telemetry fact; points queued.

        Each series gets minute points while the batch spans at most :data:`BUCKETS`
        minutes, else ``span / BUCKETS`` (a whole number of minutes) per point: averages
        weighted by count, min of mins, max of maxes. Watermark and fact go in one
        transaction, so a batch is queued once.
        """
        with self.store.tx() as c:
            since = c.execute(
                "SELECT value FROM counters WHERE name = 'telemetry_shipped'"
            ).fetchone()[0]
            until = int(now // STEP * STEP) - int(STEP)  # the last whole minute, folded
            if until <= since:
                return 0
            window = (since, until, STEP, STEP, STEP, STEP, since, STEP, STEP, until, STEP)
            first = c.execute(f"SELECT min(ts) FROM {_MINUTES}", window).fetchone()[0]  # noqa: S608
            if first is None:
                return 0
            buckets = max(1, int((until - first) // STEP) + 1)
            step = STEP * max(1, -(-buckets // BUCKETS))
            rows = c.execute(
                f"""
                SELECT metric, labels, CAST(ts / ? AS INTEGER) * ? AS bucket,
                       sum(avg * count) / sum(count), min(min), max(max), sum(count)
                FROM {_MINUTES}
                GROUP BY metric, labels, bucket ORDER BY bucket, metric, labels LIMIT ?
                """,  # noqa: S608 (a constant of this module)
                (step, step, *window, MAX_POINTS),
            ).fetchall()
            points = [
                [m, json.loads(lbl), float(ts), float(a), float(lo), float(hi), int(n)]
                for m, lbl, ts, a, lo, hi, n in rows
            ]
            shipped = until
            if len(rows) == MAX_POINTS:  # cut: the last bucket may be partial, it goes next
                last = points[-1][2]
                points = [p for p in points if p[2] < last] or points
                shipped = int(last) - 1 if points[-1][2] < last else int(last)
            body = {"step": step, "fields": ["metric", "labels", "ts", "avg", "min", "max",
                                             "count"], "points": points}  # fmt: skip
            add_fact(c, "telemetry", body, now=now)
            c.execute("UPDATE counters SET value = ? WHERE name = 'telemetry_shipped'", (shipped,))
        return len(points)
