"""The default hub store: one SQLite file (sqlite-utils, WAL), safe to share between processes.

Tables::

    meta(name PRIMARY KEY, value)           -- "revision": the store-wide revision counter
    objects(kind, key, value, revision, created_revision)   PRIMARY KEY (kind, key)
    changes(revision PRIMARY KEY, kind, key, op, value)      -- the history changes() reads

Every write runs in one ``BEGIN IMMEDIATE`` transaction: read the counter and the object,
check the expected revision (compare-and-swap), write the object, append one change, bump
the counter. SQLite's write lock serializes writers, also across processes on the same file.
The changes log keeps the last ``history`` writes; older ones are pruned, and asking for
them raises :class:`~atoll.hub.store.base.Compacted`.

Two connections, each on its own dedicated thread (sqlite3 connections are bound to the
thread that made them): writes go to the writer thread, which commits every write queued at
that moment in one transaction (group commit, a savepoint each); reads go to the reader
thread and, thanks to WAL, never wait for a commit. A write's result is handed out only after
COMMIT, so a read issued after it sees it. ``watch`` wakes on this store's own writes at once
and polls every ``poll_interval`` seconds for writes made by another process (one poll for
all watchers, see :mod:`.follow`).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from atoll.errors import (
    AtollError,
    InvalidInput,
    NotFound,
    PermanentError,
    StaleRevision,
    TemporaryError,
)
from atoll.hub.store.base import Change, Compacted, ListQuery, Page, Put, Record, Write
from atoll.hub.store.follow import Follower, watch
from atoll.hub.store.names import check_name, check_writes
from atoll.hub.store.query import check_query
from atoll.jsonbody import JSON

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_HISTORY = 100_000
BUSY_TIMEOUT_MS = 5_000
TABLES = {"meta", "objects", "changes"}
MAX_BATCH = 256  # writes committed together, at most


class SQLiteStore:
    def __init__(
        self,
        path: Path,
        *,
        history: int = DEFAULT_HISTORY,
        poll_interval: float = 0.5,
        durable: bool = True,
    ) -> None:
        if history < 1:
            raise ValueError("history must keep at least one change")
        self.path = path
        self._history = history
        self._poll = poll_interval
        self._durable = durable
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atoll-sqlite-w")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atoll-sqlite-r")
        # One connection per thread, each touched only on its own thread.
        self._dbs: dict[str, sqlite_utils.Database] = {}
        self._queue: deque[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]] = deque()
        self._follower = Follower(self._poll_revision, fallback=max(10 * poll_interval, 2.0))
        self._closed = False

    # -- the thread ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a read on the reader thread."""
        if self._closed:
            raise TemporaryError(f"hub store {self.path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._call, fn)

    def _call(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        try:
            return fn(self._database("read"))
        except (sqlite3.Error, OSError) as exc:
            raise self._translate(exc) from exc

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a write on the writer thread, committed together with any queued beside it."""
        if self._closed:
            raise TemporaryError(f"hub store {self.path} is closed")
        job: Future[T] = Future()
        self._queue.append((fn, job))
        self._writer.submit(self._drain)
        return await asyncio.wrap_future(job)

    def _drain(self) -> None:
        """Group commit: every queued write in one transaction, each in its own savepoint.

        A write that raises (a lost compare-and-swap) is rolled back to its savepoint alone;
        the others commit. Results are handed out only after COMMIT, so a revision a caller
        sees is on disk. A write cancelled before it started is dropped.
        """
        jobs: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]] = []
        while self._queue and len(jobs) < MAX_BATCH:
            fn, job = self._queue.popleft()
            if job.set_running_or_notify_cancel():
                jobs.append((fn, job))
        if not jobs:
            return
        outcomes: list[tuple[Future[Any], Any, AtollError | None]] = []
        try:
            conn = self._database("write").conn
            with _transaction(conn):
                for fn, job in jobs:
                    conn.execute("SAVEPOINT write")
                    try:
                        result = fn(conn)
                    except AtollError as exc:
                        conn.execute("ROLLBACK TO write")
                        outcomes.append((job, None, exc))
                    else:
                        outcomes.append((job, result, None))
                    conn.execute("RELEASE write")
        except Exception as exc:
            for _, job in jobs:
                ours = self._translate(exc) if isinstance(exc, sqlite3.Error | OSError) else exc
                job.set_exception(ours)
            return
        for job, result, error in outcomes:
            if error is None:
                job.set_result(result)
            else:
                job.set_exception(error)

    def _translate(self, exc: sqlite3.Error | OSError) -> AtollError:
        if isinstance(exc, sqlite3.OperationalError) and (
            "locked" in str(exc) or "busy" in str(exc)
        ):
            return TemporaryError(f"hub store {self.path} is busy: {exc}")
        return PermanentError(f"hub store {self.path}: {exc}")

    def _database(self, role: str) -> sqlite_utils.Database:
        """This thread's connection (``role`` names the thread), opened on first use."""
        if role not in self._dbs:
            self._dbs[role] = self._open()
        return self._dbs[role]

    def _open(self) -> sqlite_utils.Database:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Password hashes and keys' metadata live here: only the hub's user may read it
        # (SQLite gives the -wal and -shm files the same mode).
        self.path.touch(mode=0o600, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a revision once returned survives a power cut, so it is never handed out twice.
        # OFF (durable=False) is for tests and throwaway stores only.
        conn.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'OFF'}")
        db = sqlite_utils.Database(conn)
        if not set(db.table_names()) >= TABLES:
            self._create_tables(db)
        log.debug("hub store connection opened: %s", self.path)
        return db

    def _create_tables(self, db: sqlite_utils.Database) -> None:
        with _transaction(db.conn):
            db.table("meta").create({"name": str, "value": int}, pk="name", if_not_exists=True)
            db.table("objects").create(
                {"kind": str, "key": str, "value": str, "revision": int, "created_revision": int},
                pk=("kind", "key"),
                if_not_exists=True,
            )
            db.table("changes").create(
                {"revision": int, "kind": str, "key": str, "op": str, "value": str},
                pk="revision",
                if_not_exists=True,
            )
            db.conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0)")
        log.info("hub store created: %s", self.path)

    # -- writes ----------------------------------------------------------------------------

    async def put(
        self, kind: str, key: str, value: JSON, *, expect_revision: int | None = None
    ) -> Record:
        check_name(kind, key)
        body = _encode(kind, key, value)
        record = await self._write(
            lambda conn: _put(conn, kind, key, body, expect_revision, self._history)
        )
        await self._follower.saw(record.revision)
        return record

    async def delete(self, kind: str, key: str, *, expect_revision: int | None = None) -> int:
        rev = await self._write(
            lambda conn: _delete(conn, kind, key, expect_revision, self._history)
        )
        await self._follower.saw(rev)
        return rev

    async def commit(self, writes: Sequence[Write]) -> int:
        check_writes(writes)
        bodies = [_encode(w.kind, w.key, w.value) if isinstance(w, Put) else None for w in writes]

        def work(conn: sqlite3.Connection) -> int:  # one savepoint: a failed check undoes all
            rev = _revision(conn)
            for write, body in zip(writes, bodies, strict=True):
                if body is None:
                    rev = _delete(conn, write.kind, write.key, write.expect_revision, self._history)
                else:
                    rev = _put(
                        conn, write.kind, write.key, body, write.expect_revision, self._history
                    ).revision
            return rev

        rev = await self._write(work)
        await self._follower.saw(rev)
        return rev

    # -- reads -----------------------------------------------------------------------------

    async def get(self, kind: str, key: str) -> Record:
        def work(db: sqlite_utils.Database) -> Record:
            row = db.conn.execute(
                "SELECT value, revision, created_revision FROM objects WHERE kind = ? AND key = ?",
                (kind, key),
            ).fetchone()
            if row is None:
                raise NotFound(f"{kind} {key!r} does not exist")
            return Record(kind, key, json.loads(row[0]), row[1], row[2])

        return await self._run(work)

    async def list(self, query: ListQuery) -> Page:
        check_query(query)
        sql = ["SELECT key, value, revision, created_revision FROM objects WHERE kind = ?"]
        args: builtins.list[Any] = [query.kind]
        if query.marker is not None:
            sql.append("AND key > ?")
            args.append(query.marker)
        for name, want in query.filters.items():
            if want is None:
                sql.append(f"AND json_extract(value, '$.\"{name}\"') IS NULL")
            else:
                sql.append(f"AND json_extract(value, '$.\"{name}\"') = ?")
                args.append(want)
        sql.append("ORDER BY key LIMIT ?")
        args.append(query.limit + 1)
        statement = " ".join(sql)  # field names are checked by check_query, values bound

        def work(db: sqlite_utils.Database) -> builtins.list[Record]:
            rows = db.conn.execute(statement, args).fetchall()
            return [Record(query.kind, r[0], json.loads(r[1]), r[2], r[3]) for r in rows]

        items = await self._run(work)
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page(items, items[-1].key if more else None)

    async def changes(self, since: int, limit: int = 1000) -> builtins.list[Change]:
        def work(db: sqlite_utils.Database) -> builtins.list[Change]:
            # One read transaction, so the history and the compaction point agree.
            with _transaction(db.conn, "BEGIN DEFERRED"):
                oldest = db.conn.execute("SELECT MIN(revision) FROM changes").fetchone()[0]
                current = _revision(db.conn)
                if oldest is not None and since < oldest - 1:
                    raise Compacted(
                        f"changes after revision {since} are gone (history starts at "
                        f"{oldest}); list everything and continue from revision {current}",
                        current,
                    )
                rows = db.conn.execute(
                    "SELECT revision, kind, key, op, value FROM changes WHERE revision > ?"
                    " ORDER BY revision LIMIT ?",
                    (since, limit),
                ).fetchall()
            return [Change(r[0], r[1], r[2], r[3], _decode(r[4])) for r in rows]

        return await self._run(work)

    def watch(self, since: int) -> AsyncIterator[Change]:
        return watch(self.changes, self._follower.wait_past, since)

    async def _poll_revision(self, since: int) -> int:
        await asyncio.sleep(self._poll)  # another process may have written meanwhile
        return await self.revision()

    async def revision(self) -> int:
        return await self._run(lambda db: _revision(db.conn))

    async def close(self) -> None:
        if self._closed:
            return

        def work(role: str) -> None:
            db = self._dbs.pop(role, None)
            if db is not None:
                db.conn.close()

        await self._follower.close()
        self._closed = True  # queued writes still run: the writer thread takes them in order
        loop = asyncio.get_running_loop()
        for role, executor in (("write", self._writer), ("read", self._reader)):
            await loop.run_in_executor(executor, work, role)
            executor.shutdown(wait=False)


@contextmanager
def _transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` when the block raises."""
    conn.execute(begin)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _put(
    conn: sqlite3.Connection, kind: str, key: str, body: str, expect: int | None, keep: int
) -> Record:
    current = _current(conn, kind, key, expect)
    rev = _bump(conn)
    created = current[1] if current else rev
    conn.execute(
        "INSERT OR REPLACE INTO objects (kind, key, value, revision, created_revision)"
        " VALUES (?, ?, ?, ?, ?)",
        (kind, key, body, rev, created),
    )
    _log(conn, (rev, kind, key, "put", body), keep)
    return Record(kind, key, json.loads(body), rev, created)


def _delete(conn: sqlite3.Connection, kind: str, key: str, expect: int | None, keep: int) -> int:
    if _current(conn, kind, key, expect) is None:
        raise NotFound(f"{kind} {key!r} does not exist")
    rev = _bump(conn)
    conn.execute("DELETE FROM objects WHERE kind = ? AND key = ?", (kind, key))
    _log(conn, (rev, kind, key, "delete", None), keep)
    return rev


def _log(conn: sqlite3.Connection, row: tuple[int, str, str, str, str | None], keep: int) -> None:
    """Append one change and prune the history to the last ``keep`` changes."""
    conn.execute("INSERT INTO changes (revision, kind, key, op, value) VALUES (?, ?, ?, ?, ?)", row)
    conn.execute("DELETE FROM changes WHERE revision <= ?", (row[0] - keep,))


def _bump(conn: sqlite3.Connection) -> int:
    conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'revision'")
    return _revision(conn)


def _revision(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = 'revision'").fetchone()
    return int(row[0])


def _current(
    conn: sqlite3.Connection, kind: str, key: str, expect_revision: int | None
) -> tuple[int, int] | None:
    """(revision, created_revision) of the object, after checking ``expect_revision``."""
    row = conn.execute(
        "SELECT revision, created_revision FROM objects WHERE kind = ? AND key = ?", (kind, key)
    ).fetchone()
    current = (int(row[0]), int(row[1])) if row else None
    if expect_revision is None:
        return current
    if current is None and expect_revision > 0:
        raise NotFound(f"{kind} {key!r} does not exist")
    have = current[0] if current else 0
    if have != expect_revision:
        raise StaleRevision(
            f"{kind} {key!r} is at revision {have}, not {expect_revision}: read it again and retry"
        )
    return current


def _encode(kind: str, key: str, value: JSON) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{kind} {key!r} cannot be stored as JSON: {exc}") from exc


def _decode(body: str | None) -> JSON | None:
    return None if body is None else json.loads(body)
