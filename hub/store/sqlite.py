"""The default hub store: one SQLite file (sqlite-utils, WAL), safe to share between processes.

Tables::

    objects(kind, key, value, revision, created_revision)   PRIMARY KEY (kind, key)
    changes(revision PRIMARY KEY, kind, key, op, value)      -- the history changes() reads

The store-wide revision is the last row of ``changes`` (every write appends one, and pruning
never removes the last). Every write runs in a ``BEGIN IMMEDIATE`` transaction: read the object,
check the expected revision (compare-and-swap), append one change, whose rowid is the write's
revision (the last one plus one, under the write lock: no statement reads it first), write
the object. SQLite's write lock serializes
writers, also across processes on the same file. A commit so writes two B-tree pages for a
small object, as a plain one-table insert does: ``objects`` is a ``WITHOUT ROWID`` table (one
tree, not a table beside its key's index), and no counter row is rewritten. (Files made
before that keep a rowid ``objects`` and a ``meta`` table, no longer read; both work.)
The changes log keeps the last ``history`` writes; older ones are pruned (every
``PRUNE_EVERY`` revisions; ``changes`` never shows more than ``history``), and asking for
them raises :class:`~atoll.hub.store.base.Compacted`.

Two connections, each on its own dedicated thread (sqlite3 connections are bound to the
thread that made them): writes go to the writer thread, which commits every write queued at
that moment in one transaction (group commit); reads go to the reader thread and, thanks to
WAL, never wait for a commit. Reads of one row by key (``get``, ``revision``) run on the
event loop's own thread instead, with a connection of their own and no hop (see
``_point_read``). A write's result is handed out only after COMMIT, so a read issued after
it sees it. ``watch`` wakes on this store's own writes at once
and polls every ``poll_interval`` seconds for writes made by another process (one poll for
all watchers, see :mod:`.follow`).
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from atoll.errors import (
    AtollError,
    NotFound,
    PermanentError,
    StaleRevision,
    TemporaryError,
)
from atoll.hub.store.base import (
    Change,
    Compacted,
    ListQuery,
    Page,
    Put,
    Record,
    Write,
    change_filter,
    encode_value,
)
from atoll.hub.store.follow import Follower, watch
from atoll.hub.store.names import check_name, check_writes
from atoll.hub.store.query import check_query, prefix_end
from atoll.jsonbody import JSON

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_HISTORY = 100_000
BUSY_TIMEOUT_MS = 5_000
TABLES = {"objects", "changes"}
MAX_BATCH = 256  # writes committed together, at most
PRUNE_EVERY = 64  # revisions between two prunes of the history (changes() hides the excess)


class SQLiteStore:
    backend = "sqlite"

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
        # Point reads' connections, one per event-loop thread (by thread id), see _point_read.
        self._point: dict[int, sqlite3.Connection] = {}
        self._queue: deque[_Job] = deque()
        self._drain_pending = False
        self._follower = Follower(self._poll_revision, fallback=max(10 * poll_interval, 2.0))
        self._closed = False

    # -- the thread ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run a read on the reader thread."""
        if self._closed:
            raise TemporaryError(f"hub store {self.path} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._call, fn)

    async def _point_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A read of one row by its key, on the calling thread (no hop to the reader thread).

        Such a read takes microseconds and, in WAL mode, never waits for a writer; if the
        file is busy anyway (a checkpoint restarting the log) or not made yet, it goes to the
        reader thread instead, so the event loop never waits on a lock.
        """
        if self._closed:
            raise TemporaryError(f"hub store {self.path} is closed")
        conn = self._point.get(threading.get_ident())
        if conn is None and self._dbs:  # the file exists with its tables: made by a thread
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=0, check_same_thread=False
            )
            self._point[threading.get_ident()] = conn
        if conn is not None:
            try:
                return fn(conn)
            except sqlite3.OperationalError:
                pass  # busy, or no tables yet: the reader thread waits for it
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc
        return await self._run(lambda db: fn(db.conn))

    def _call(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        try:
            return fn(self._database("read"))
        except (sqlite3.Error, OSError) as exc:
            raise self._translate(exc) from exc

    async def _write(self, fn: Callable[[_Txn], T], *, checks_first: bool = True) -> T:
        """Run a write on the writer thread, committed together with any queued beside it.

        ``checks_first``: ``fn`` raises only before it writes anything (a put or delete checks
        its expected revision first), so it needs no savepoint of its own.
        """
        if self._closed:
            raise TemporaryError(f"hub store {self.path} is closed")
        loop = asyncio.get_running_loop()
        job: asyncio.Future[T] = loop.create_future()
        self._queue.append((fn, job, not checks_first))
        if not self._drain_pending:  # one drain takes everything queued until it starts
            self._drain_pending = True
            self._writer.submit(self._drain)
        return await job

    def _drain(self) -> None:
        """Group commit: every queued write in one transaction.

        A write that raises (a lost compare-and-swap) leaves nothing behind (it raised before
        writing, or it is rolled back to a savepoint of its own); the others commit. Results
        are handed out only after COMMIT (to the event loop in one call per batch), so a
        revision a caller sees is on disk. A write cancelled before it started is dropped.
        """
        self._drain_pending = False  # a write queued from now on schedules the next drain
        while self._queue:
            jobs: list[_Job] = []
            while self._queue and len(jobs) < MAX_BATCH:
                queued = self._queue.popleft()
                if not queued[1].cancelled():
                    jobs.append(queued)
            if jobs:
                by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
                for outcome in self._commit_batch(jobs):
                    by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
                for loop, outcomes in by_loop.items():
                    with suppress(RuntimeError):  # the loop is gone: nobody waits any more
                        loop.call_soon_threadsafe(_deliver, outcomes)

    def _commit_batch(self, jobs: list[_Job]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        try:
            conn = self._database("write").conn
            with _transaction(conn):
                txn = _Txn(conn)
                for fn, job, atomic in jobs:
                    if atomic:
                        conn.execute("SAVEPOINT write")
                    before = txn.last
                    try:
                        result = fn(txn)
                    except AtollError as exc:
                        if atomic:
                            conn.execute("ROLLBACK TO write")
                        txn.last = before
                        outcomes.append((job, None, exc))
                    else:
                        outcomes.append((job, result, None))
                    if atomic:
                        conn.execute("RELEASE write")
                if txn.prune:
                    conn.execute(
                        "DELETE FROM changes WHERE revision <= ?", (txn.revision - self._history,)
                    )
        except Exception as exc:
            ours = self._translate(exc) if isinstance(exc, sqlite3.Error | OSError) else exc
            return [(job, None, ours) for _, job, _ in jobs]
        return outcomes

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
            db.conn.execute(
                "CREATE TABLE IF NOT EXISTS objects (kind TEXT, key TEXT, value TEXT,"
                " revision INTEGER, created_revision INTEGER, PRIMARY KEY (kind, key))"
                " WITHOUT ROWID"
            )
            db.conn.execute(
                "CREATE TABLE IF NOT EXISTS changes (revision INTEGER PRIMARY KEY, kind TEXT,"
                " key TEXT, op TEXT, value TEXT)"
            )
        log.info("hub store created: %s", self.path)

    # -- writes ----------------------------------------------------------------------------

    async def put(
        self, kind: str, key: str, value: JSON, *, expect_revision: int | None = None
    ) -> Record:
        check_name(kind, key)
        body = encode_value(kind, key, value)
        record = await self._write(lambda txn: _put(txn, kind, key, body, expect_revision))
        await self._follower.saw(record.revision)
        return record

    async def delete(self, kind: str, key: str, *, expect_revision: int | None = None) -> int:
        rev = await self._write(lambda txn: _delete(txn, kind, key, expect_revision))
        await self._follower.saw(rev)
        return rev

    async def commit(self, writes: Sequence[Write]) -> int:
        check_writes(writes)
        bodies = [
            encode_value(w.kind, w.key, w.value) if isinstance(w, Put) else None for w in writes
        ]

        def work(txn: _Txn) -> int:  # one savepoint: a failed check undoes all
            rev: int | None = None
            for write, body in zip(writes, bodies, strict=True):
                if body is None:
                    rev = _delete(txn, write.kind, write.key, write.expect_revision)
                else:
                    rev = _put(txn, write.kind, write.key, body, write.expect_revision).revision
            return txn.revision if rev is None else rev

        rev = await self._write(work, checks_first=len(writes) <= 1)
        await self._follower.saw(rev)
        return rev

    # -- reads -----------------------------------------------------------------------------

    async def get(self, kind: str, key: str) -> Record:
        def work(conn: sqlite3.Connection) -> Record:
            row = conn.execute(
                "SELECT value, revision, created_revision FROM objects WHERE kind = ? AND key = ?",
                (kind, key),
            ).fetchone()
            if row is None:
                raise NotFound(f"{kind} {key!r} does not exist")
            return Record(kind, key, json.loads(row[0]), row[1], row[2])

        return await self._point_read(work)

    async def list(self, query: ListQuery) -> Page:
        check_query(query)
        sql = ["SELECT key, value, revision, created_revision FROM objects WHERE kind = ?"]
        args: builtins.list[Any] = [query.kind]
        if query.marker is not None:
            sql.append("AND key > ?")
            args.append(query.marker)
        if query.key_prefix:  # a range of the primary key, not a scan of the kind
            sql.append("AND key >= ?")
            args.append(query.key_prefix)
            end = prefix_end(query.key_prefix)
            if end is not None:
                sql.append("AND key < ?")
                args.append(end)
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

    async def changes(
        self, since: int, limit: int = 1000, *, kind: str | None = None, key_prefix: str = ""
    ) -> builtins.list[Change]:
        change_filter(kind, key_prefix)  # checks the arguments
        sql = ["SELECT revision, kind, key, op, value FROM changes WHERE revision > ?"]
        args: builtins.list[Any] = [since]
        if kind is not None:  # SQLite skips the others' rows without decoding their values
            sql.append("AND kind = ? AND substr(key, 1, ?) = ?")
            args += [kind, len(key_prefix), key_prefix]
        sql.append("ORDER BY revision LIMIT ?")
        args.append(limit)
        statement = " ".join(sql)

        def work(db: sqlite_utils.Database) -> builtins.list[Change]:
            # One read transaction, so the history and the compaction point agree.
            with _transaction(db.conn, "BEGIN DEFERRED"):
                oldest = db.conn.execute("SELECT MIN(revision) FROM changes").fetchone()[0]
                current = _revision(db.conn)
                if oldest is not None:  # pruned every PRUNE_EVERY writes: older ones are gone
                    oldest = max(oldest, current - self._history + 1)
                if oldest is not None and since < oldest - 1:
                    raise Compacted(
                        f"changes after revision {since} are gone (history starts at "
                        f"{oldest}); list everything and continue from revision {current}",
                        current,
                    )
                rows = db.conn.execute(statement, args).fetchall()
            return [Change(r[0], r[1], r[2], r[3], _decode(r[4])) for r in rows]

        return await self._run(work)

    def watch(self, since: int, *, kind: str | None = None) -> AsyncIterator[Change]:
        return watch(
            self.changes, self._follower.wait_past, since, kind=kind, revision=self.revision
        )

    async def _poll_revision(self, since: int) -> int:
        await asyncio.sleep(self._poll)  # another process may have written meanwhile
        return await self.revision()

    async def revision(self) -> int:
        return await self._point_read(_revision)

    async def close(self) -> None:
        if self._closed:
            return

        def work(role: str) -> None:
            db = self._dbs.pop(role, None)
            if db is not None:
                db.conn.close()

        await self._follower.close()
        self._closed = True  # queued writes still run: the writer thread takes them in order
        while self._point:
            self._point.popitem()[1].close()
        loop = asyncio.get_running_loop()
        for role, executor in (("write", self._writer), ("read", self._reader)):
            await loop.run_in_executor(executor, work, role)
            executor.shutdown(wait=False)


def _deliver(outcomes: list[_Outcome]) -> None:
    """On the event loop: hand each write of a committed batch its result or error."""
    for job, result, error in outcomes:
        if job.done():  # cancelled while it was being committed
            continue
        if error is None:
            job.set_result(result)
        else:
            job.set_exception(error)


@contextmanager
def _transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` when the block raises."""
    conn.execute(begin)
    try:
        yield
        if conn.in_transaction:  # the block may have rolled back already
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class _Txn:
    """The writer's transaction: its connection and the last revision it wrote.

    A write's revision is its change's rowid (``changes.revision`` is the table's INTEGER
    PRIMARY KEY): SQLite gives a row inserted without one the largest rowid plus one, under
    its write lock, so no other process takes the same, and no statement reads it first.
    ``prune`` is set when a revision written is a multiple of ``PRUNE_EVERY``.
    """

    __slots__ = ("conn", "last", "prune")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.last: int | None = None  # None: nothing written yet (or all of it rolled back)
        self.prune = False

    @property
    def revision(self) -> int:
        """The store's revision as this transaction sees it."""
        return _revision(self.conn) if self.last is None else self.last

    def log(self, kind: str, key: str, op: str, body: str | None) -> int:
        """Append one change; its revision."""
        rev = self.conn.execute(
            "INSERT INTO changes (kind, key, op, value) VALUES (?, ?, ?, ?)", (kind, key, op, body)
        ).lastrowid
        assert rev is not None
        self.last = rev
        self.prune = self.prune or rev % PRUNE_EVERY == 0
        return rev


_Job = tuple[Callable[[_Txn], Any], "asyncio.Future[Any]", bool]  # work, result, own savepoint
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


def _put(txn: _Txn, kind: str, key: str, body: str, expect: int | None) -> Record:
    if expect is not None:
        _current(txn.conn, kind, key, expect)
    rev = txn.log(kind, key, "put", body)
    (created,) = txn.conn.execute(
        "INSERT INTO objects (kind, key, value, revision, created_revision) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value,"
        " revision = excluded.revision RETURNING created_revision",
        (kind, key, body, rev, rev),
    ).fetchone()
    return Record(kind, key, json.loads(body), rev, int(created))


def _delete(txn: _Txn, kind: str, key: str, expect: int | None) -> int:
    if _current(txn.conn, kind, key, expect) is None:
        raise NotFound(f"{kind} {key!r} does not exist")
    txn.conn.execute("DELETE FROM objects WHERE kind = ? AND key = ?", (kind, key))
    return txn.log(kind, key, "delete", None)


def _revision(conn: sqlite3.Connection) -> int:
    """The store-wide revision: the last change's (pruning keeps at least the last one)."""
    row = conn.execute("SELECT MAX(revision) FROM changes").fetchone()
    return int(row[0] or 0)


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


def _decode(body: str | None) -> JSON | None:
    return None if body is None else json.loads(body)
