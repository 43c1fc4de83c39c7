"""The hub's time-series keeper: the sites' telemetry batches, for a while, in SQLite.

Telemetry is not intent: it must not bump store revisions (every revision is a change the
sync feed passes to every site). So it lives here, in a SQLite file of its own beside the
store (``<data dir>/telemetry.sqlite``; in memory for tests and the memory store), written
by the hub process that records the facts. Several hub processes on one etcd store each keep
the batches of the sites whose sessions they serve (a query on another process sees less);
a site's session moves when it reconnects.

Tables::

    points  (site_id, metric, labels, ts) -> avg, min, max, count
            one point per series and bucket as the site sent it: minute rollups, or coarser
            buckets when a site catches up after being cut off
    latest  (site_id, metric, labels) -> ts, value
            each series' newest average, for the hub's /metrics

- :meth:`TelemetryKeeper.ingest` takes one ``telemetry`` fact body (``{step, fields,
  points}``, PROTOCOL.md): a point sent again replaces itself, so a batch delivered twice
  changes nothing. A series keeps at most one point a minute, as a Gnocchi archive policy
  keeps one a granularity: a point's time is a whole number of
  :data:`~atoll.sync.frames.POINT_STEP` seconds (the site's ring ships minute averages, or
  whole-minute buckets when catching up); a point off the minute is left out, and one older
  than the retention is not kept (the prune would drop it). So a series holds at most
  ``(retention + MAX_AHEAD) / POINT_STEP`` points (11,520 at a week's retention), however
  many times a site sends. A site keeps at most ``series_limit`` series (``[hub]
  site_series_limit``: distinct metric name and labels, the rows of ``latest``, which the
  retention prunes): the points of its series go on, those of new series beyond the limit
  are left out. What is left out is said in :class:`Ingested` (the hub keeps that as a
  ``refused_fact``).
- :meth:`TelemetryKeeper.query` returns series over ``[since, until]`` in ``step``-second
  buckets (averages weighted by count, min of mins, max of maxes).
- :meth:`TelemetryKeeper.prune` drops what is older than the retention
  (``[hub] telemetry_retention``, seconds; run by the hub's telemetry loop).

Every call runs the blocking SQLite work on a worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from atoll.errors import InvalidInput
from atoll.jsonbody import JSON
from atoll.resources.alarm import MAX_LABEL_KEY, MAX_LABEL_VALUE, MAX_SERIES_LABELS, METRIC
from atoll.sync.frames import MAX_POINTS as BATCH_POINTS
from atoll.sync.frames import POINT_STEP

T = TypeVar("T")
FILE = "telemetry.sqlite"
FIELDS = ["metric", "labels", "ts", "avg", "min", "max", "count"]
MAX_POINTS = 20000  # points one query answers at most (the API asks for fewer)
MAX_AHEAD = 86400.0  # seconds a point's time may be past the hub's clock (sites' clocks vary)
SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    site_id TEXT NOT NULL, metric TEXT NOT NULL, labels TEXT NOT NULL, ts REAL NOT NULL,
    avg REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (site_id, metric, labels, ts)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_ts ON points(ts);
CREATE TABLE IF NOT EXISTS latest (
    site_id TEXT NOT NULL, metric TEXT NOT NULL, labels TEXT NOT NULL, ts REAL NOT NULL,
    value REAL NOT NULL, PRIMARY KEY (site_id, metric, labels)) WITHOUT ROWID;
"""


def labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


@dataclass
class Series:
    site_id: str
    metric: str
    labels: dict[str, str]
    points: list[tuple[float, float, float, float]] = field(default_factory=list)
    # (ts, avg, min, max), oldest first


@dataclass(frozen=True)
class Ingested:
    """What one batch did: the points kept; the points and series left out (new series
    beyond the site's ``series_limit``), with the first few of those series named; and the
    points left out for a time off the minute (``off_step``), the first few named."""

    points: int
    refused_points: int = 0
    refused_series: int = 0
    examples: tuple[str, ...] = ()
    off_step: int = 0
    off_step_examples: tuple[str, ...] = ()

    @property
    def left_out(self) -> int:
        return self.refused_points + self.off_step


@dataclass(frozen=True)
class Latest:
    site_id: str
    metric: str
    labels: dict[str, str]
    ts: float
    value: float


def _rows(body: Any, now: float) -> list[tuple[Any, ...]]:
    """A telemetry fact body's points as rows; InvalidInput names what is wrong.

    Within bounds, as the site makes them: at most :data:`~atoll.sync.frames.MAX_POINTS`
    points a batch, each with a metric name, labels as a rule's (:mod:`atoll.resources.alarm`),
    finite figures and a time at most :data:`MAX_AHEAD` past the hub's ``now`` (a point from
    the future would outlive the retention)."""
    if not isinstance(body, dict) or not isinstance(body.get("points"), list):
        raise InvalidInput("a telemetry batch is {step, fields, points: [...]}")
    if len(body["points"]) > BATCH_POINTS:
        raise InvalidInput(f"a telemetry batch has at most {BATCH_POINTS} points")
    names = body.get("fields", FIELDS)
    if not isinstance(names, list) or not set(FIELDS) <= set(names):
        raise InvalidInput(f"a telemetry batch's fields must include {', '.join(FIELDS)}")
    where = {name: names.index(name) for name in FIELDS}
    rows = []
    for i, point in enumerate(body["points"]):
        try:
            metric, labels = point[where["metric"]], point[where["labels"]]
            numbers = [float(point[where[k]]) for k in ("ts", "avg", "min", "max")]
            count = int(point[where["count"]])
        except (TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
            raise InvalidInput(f"telemetry point {i} is not [{', '.join(names)}]") from exc
        if not isinstance(metric, str) or not isinstance(labels, dict) or not 0 < count < 1 << 53:
            raise InvalidInput(f"telemetry point {i} has no metric name, labels or count")
        if not re.fullmatch(METRIC, metric):
            raise InvalidInput(f"telemetry point {i}: {metric[:MAX_LABEL_KEY]!r} is not a "
                               "metric name")  # fmt: skip
        if not all(math.isfinite(n) for n in numbers) or numbers[0] > now + MAX_AHEAD:
            raise InvalidInput(f"telemetry point {i} is not finite, or is in the future")
        problem = _labels_problem(labels)
        if problem:
            raise InvalidInput(f"telemetry point {i}: {problem}")
        rows.append((metric, labels_key(labels), *numbers, count))
    return rows


def _labels_problem(labels: dict[Any, Any]) -> str | None:
    if len(labels) > MAX_SERIES_LABELS:
        return f"at most {MAX_SERIES_LABELS} labels"
    for key, value in labels.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            return "labels are strings"
        if not 0 < len(key) <= MAX_LABEL_KEY or len(value) > MAX_LABEL_VALUE:
            return f"a label is 1-{MAX_LABEL_KEY} characters, its value at most {MAX_LABEL_VALUE}"
    return None


class TelemetryKeeper:
    """See the module docstring. ``path`` None keeps everything in memory."""

    def __init__(
        self,
        path: Path | None,
        retention: float,
        clock: Callable[[], float],
        series_limit: int = 0,
    ) -> None:
        self.path = path
        self.retention = retention
        self.clock = clock
        self.series_limit = series_limit  # series a site keeps here; 0: no limit
        self.ingested = 0  # points taken in since start
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path), check_same_thread=False,
            isolation_level=None,
        )  # fmt: skip
        if path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)

    @classmethod
    def in_dir(
        cls, data_dir: Path, retention: float, clock: Callable[[], float], series_limit: int = 0
    ) -> TelemetryKeeper:
        return cls(data_dir / FILE, retention, clock, series_limit)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    async def _call(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                return fn()

        return await asyncio.to_thread(locked)

    # -- in ------------------------------------------------------------------------------
    async def ingest(self, site_id: str, body: JSON) -> Ingested:
        """Keep one telemetry batch of ``site_id`` (InvalidInput: none of it), but no point
        off the minute and no new series beyond the site's ``series_limit``: what was kept,
        and what was not. Points older than the retention are not kept (nor said)."""
        now = self.clock()
        cutoff = now - self.retention
        rows = [row for row in _rows(body, now) if row[2] >= cutoff]
        off = [row for row in rows if row[2] % POINT_STEP]
        if off:
            rows = [row for row in rows if not row[2] % POINT_STEP]
        done = await self._call(lambda: self._ingest_blocking(site_id, rows))
        if off:
            named = tuple(f"{m}{lbl} at {ts!r}" for m, lbl, ts, *_ in off[:3])
            done = replace(done, off_step=len(off), off_step_examples=named)
        self.ingested += done.points
        return done

    def _ingest_blocking(self, site_id: str, rows: list[tuple[Any, ...]]) -> Ingested:
        with self._transaction():
            self._write(site_id, rows)
            if not self.series_limit or self._series(site_id) <= self.series_limit:
                return Ingested(len(rows))
            self._conn.execute("ROLLBACK TO batch")  # over the limit: keep what fits, below
            kept, refused = self._within_limit(site_id, rows)
            self._write(site_id, kept)
        series = list(dict.fromkeys(f"{m}{lbl}" for m, lbl, *_ in refused))
        return Ingested(len(kept), len(refused), len(series), tuple(series[:3]))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        c = self._conn
        c.execute("SAVEPOINT batch")
        try:
            yield
        except BaseException:
            c.execute("ROLLBACK TO batch")
            c.execute("RELEASE batch")
            raise
        c.execute("RELEASE batch")

    def _write(self, site_id: str, rows: list[tuple[Any, ...]]) -> None:
        c = self._conn
        c.executemany(
            "INSERT OR REPLACE INTO points(site_id, metric, labels, ts, avg, min, max, count)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(site_id, *row) for row in rows],
        )
        c.executemany(
            "INSERT INTO latest(site_id, metric, labels, ts, value) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(site_id, metric, labels) DO UPDATE SET ts = excluded.ts,"
            " value = excluded.value WHERE excluded.ts >= latest.ts",
            [(site_id, m, lbl, ts, avg) for m, lbl, ts, avg, _lo, _hi, _n in rows],
        )

    def _series(self, site_id: str) -> int:
        """The site's series (one ``latest`` row each)."""
        query = "SELECT count(*) FROM latest WHERE site_id = ?"
        return int(self._conn.execute(query, (site_id,)).fetchone()[0])

    def _within_limit(
        self, site_id: str, rows: list[tuple[Any, ...]]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """``rows`` split into those of series the site has or that fit in its limit (in
        the batch's order), and those of new series beyond it."""
        query = "SELECT 1 FROM latest WHERE site_id = ? AND metric = ? AND labels = ?"
        batch = dict.fromkeys((m, lbl) for m, lbl, *_ in rows)
        new = [s for s in batch if self._conn.execute(query, (site_id, *s)).fetchone() is None]
        room = max(0, self.series_limit - self._series(site_id))
        allowed = set(batch) - set(new[room:])
        kept = [row for row in rows if (row[0], row[1]) in allowed]
        return kept, [row for row in rows if (row[0], row[1]) not in allowed]

    async def prune(self) -> int:
        """Drop points older than the retention; how many went."""
        cutoff = self.clock() - self.retention

        def prune() -> int:
            gone = self._conn.execute("DELETE FROM points WHERE ts < ?", (cutoff,)).rowcount
            self._conn.execute("DELETE FROM latest WHERE ts < ?", (cutoff,))
            return int(gone)

        return await self._call(prune)

    # -- out -----------------------------------------------------------------------------
    async def query(
        self,
        metric: str,
        since: float,
        until: float,
        step: float,
        site_ids: list[str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> list[Series]:
        """Series of ``metric`` (at ``site_ids``, all sites if None) whose labels include
        ``labels``, in ``step``-second buckets over ``[since, until]``; at most
        :data:`MAX_POINTS` points in all."""
        sql = (
            "SELECT site_id, labels, CAST(ts / ? AS INTEGER) * ? AS bucket,"
            " sum(avg * count) / sum(count), min(min), max(max) FROM points"
            " WHERE metric = ? AND ts >= ? AND ts <= ?"
        )
        args: list[Any] = [step, step, metric, since, until]
        if site_ids is not None:
            if not site_ids:
                return []
            sql += f" AND site_id IN ({', '.join('?' for _ in site_ids)})"
            args += site_ids
        sql += " GROUP BY site_id, labels, bucket ORDER BY site_id, labels, bucket LIMIT ?"
        args.append(MAX_POINTS)
        rows = await self._call(lambda: self._conn.execute(sql, args).fetchall())
        out: dict[tuple[str, str], Series] = {}
        wanted = dict(labels or {})
        for site_id, key, bucket, avg, lo, hi in rows:
            series = out.get((site_id, key))
            if series is None:
                decoded = json.loads(key)
                if any(decoded.get(k) != v for k, v in wanted.items()):
                    continue
                series = out[(site_id, key)] = Series(site_id, metric, decoded)
            series.points.append((float(bucket), float(avg), float(lo), float(hi)))
        return list(out.values())

    async def latest(self) -> list[Latest]:
        """Each series' newest average (what /metrics shows per site)."""
        rows = await self._call(
            lambda: self._conn.execute(
                "SELECT site_id, metric, labels, ts, value FROM latest"
                " ORDER BY metric, site_id, labels"
            ).fetchall()
        )
        return [Latest(s, m, json.loads(lbl), float(t), float(v)) for s, m, lbl, t, v in rows]
