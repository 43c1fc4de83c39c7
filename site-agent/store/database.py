"""The connection, its one worker thread, transactions, and opening (with migrations)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from atoll.site_agent.errors import StoreBusy, StoreCorrupt
from atoll.site_agent.store import schema

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """One SQLite file (WAL), one connection, one worker thread.

    Every table method is blocking and runs on the worker through :meth:`call`, so the
    event loop never waits on SQLite and the connection is used by one thread only.
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="site-store")
        self._conn: sqlite3.Connection | None = None

    def open_blocking(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # the local signing key lives here: only the agent's user may read it (SQLite gives
        # the -wal and -shm files the database's mode)
        self.path.touch(mode=0o600, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            found, now = schema.migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(f"local database {self.path} cannot be opened: {exc}") from exc
        if now > schema.LATEST:
            conn.close()
            raise StoreCorrupt(
                f"local database {self.path} has schema version {now}, newer than this agent "
                f"knows ({schema.LATEST}): run the newer agent, or restore a backup"
            )
        if found and found != now:
            log.info("local database %s migrated from schema %d to %d", self.path, found, now)
        conn.row_factory = sqlite3.Row
        self._conn = conn

    async def close(self) -> None:
        await self.call(self._close_blocking)
        self._executor.shutdown(wait=True)

    def _close_blocking(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one of this store's blocking methods on its worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreCorrupt(f"local database {self.path} is not open")
        return self._conn

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreBusy(f"local database {self.path} is busy: {exc}", delay=0.5) from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def next_seq(c: sqlite3.Connection) -> int:
    """The next site fact sequence number, for an observed status or an outbox row (inside
    the caller's transaction; never reused, even after its object is purged)."""
    row = c.execute(
        "UPDATE counters SET value = value + 1 WHERE name = 'status_seq' RETURNING value"
    ).fetchone()
    return int(row[0])
