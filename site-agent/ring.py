"""The local time-series ring: raw samples for a while, then 1-minute averages, then gone.

Kept in the agent's SQLite (tables ``samples`` and ``rollups``) so hours cut off from the
hub are not lost: the sync session ships them when the link is back.

- :meth:`Ring.record_blocking` appends raw samples ``(metric, labels, value)`` at a timestamp.
- :meth:`Ring.compact_blocking` folds raw samples older than ``raw_retention`` into per-minute
  rollups (avg, min, max, count; a minute folded in two goes merges by count) and deletes
  them, then drops rollups older than ``rollup_retention``.
- :meth:`Ring.query_blocking` returns one series over a time range, raw where raw is still kept
  and minute averages before that, oldest first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from atoll.site_agent.store import LocalStore

STEP = 60.0


@dataclass(frozen=True)
class Point:
    ts: float
    value: float
    resolution: float  # 0 for a raw sample, STEP for a minute average


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
