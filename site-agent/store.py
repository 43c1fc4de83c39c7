"""The agent's local SQLite database (WAL): desired spec, observed status, the operation
journal, IPAM leases, credentials, and the sync outbox/inbox.

Tables:

- ``objects``: the desired spec of every object the agent owns (kinds ``server``,
  ``network``, ``subnet``, ``port``, ``volume``, ``flavor``), one row per object with a
  ``generation`` bumped on every spec change and ``deleting`` set when deletion was asked
  for (the row goes when the reconciler has torn the object down). Names are unique per
  kind among live objects.
- ``status``: what was observed: ``state``, ``observed_generation``, a message and details.
- ``journal``: one row per driver action, written with ``state='intent'`` BEFORE the action
  and moved to ``done`` (or ``failed``/``recovered``) after it; see :mod:`.journal`.
- ``ipam``: address leases per subnet.
- ``meta``: small key/values (hub public key once joined, token signing key).
- ``credentials``: local admin credentials, argon2-hashed.
- ``outbox``/``inbox``: durable queues for the sync session (created empty here).
- ``samples``/``rollups``: the telemetry ring (see :mod:`.ring`).

Every method is synchronous and runs on the store's own single worker thread through
:meth:`LocalStore.call`, so the event loop never blocks on SQLite and one connection is
used by one thread only.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from atoll.errors import NotFound
from atoll.site_agent.errors import DuplicateName, StoreBusy, StoreCorrupt

P = ParamSpec("P")
T = TypeVar("T")
JSON = dict[str, Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, id TEXT NOT NULL, name TEXT, spec TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 1, deleting INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (kind, id));
CREATE UNIQUE INDEX IF NOT EXISTS objects_live_name ON objects(kind, name) WHERE deleting = 0;
CREATE TABLE IF NOT EXISTS status (
    kind TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL,
    observed_generation INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}', updated REAL NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, obj_id TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, args TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
    finished REAL);
CREATE INDEX IF NOT EXISTS journal_open ON journal(state) WHERE state = 'intent';
CREATE TABLE IF NOT EXISTS ipam (
    subnet_id TEXT NOT NULL, address TEXT NOT NULL, port_id TEXT NOT NULL,
    PRIMARY KEY (subnet_id, address));
CREATE UNIQUE INDEX IF NOT EXISTS ipam_port ON ipam(subnet_id, port_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credentials (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, obj_id TEXT NOT NULL,
    op TEXT NOT NULL, body TEXT NOT NULL, created REAL NOT NULL, acked REAL);
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL UNIQUE, body TEXT NOT NULL,
    received REAL NOT NULL, applied REAL);
CREATE TABLE IF NOT EXISTS samples (
    metric TEXT NOT NULL, labels TEXT NOT NULL, ts REAL NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS samples_ts ON samples(ts);
CREATE TABLE IF NOT EXISTS rollups (
    metric TEXT NOT NULL, labels TEXT NOT NULL, ts REAL NOT NULL, avg REAL NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (metric, labels, ts));
CREATE INDEX IF NOT EXISTS rollups_ts ON rollups(ts);
"""


@dataclass(frozen=True)
class DesiredObject:
    kind: str
    id: str
    name: str | None
    spec: JSON
    generation: int
    deleting: bool
    created: float


@dataclass(frozen=True)
class ObservedStatus:
    kind: str
    id: str
    state: str
    observed_generation: int
    message: str
    detail: JSON
    updated: float


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    kind: str
    obj_id: str
    action: str
    target: str
    args: JSON
    state: str
    error: str
    created: float


class LocalStore:
    """One SQLite file, one connection, one worker thread."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="site-store")
        self._conn: sqlite3.Connection | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreCorrupt(f"local database {self.path} cannot be opened: {exc}") from exc
        conn.row_factory = sqlite3.Row
        self._conn = conn

    async def open(self) -> LocalStore:
        await self.call(self.open_sync)
        return self

    async def close(self) -> None:
        await self.call(self._close_sync)
        self._executor.shutdown(wait=True)

    def _close_sync(self) -> None:
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

    # -- desired spec ----------------------------------------------------------------------
    def create_object(self, kind: str, obj_id: str, name: str | None, spec: JSON) -> DesiredObject:
        now = self.clock()
        try:
            with self.tx() as c:
                c.execute(
                    "INSERT INTO objects(kind, id, name, spec, generation, deleting, created,"
                    " updated) VALUES (?, ?, ?, ?, 1, 0, ?, ?)",
                    (kind, obj_id, name, json.dumps(spec), now, now),
                )
                c.execute(
                    "INSERT OR REPLACE INTO status(kind, id, state, observed_generation,"
                    " message, detail, updated) VALUES (?, ?, 'PENDING', 0, '', '{}', ?)",
                    (kind, obj_id, now),
                )
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(f"a {kind} named {name!r} already exists") from exc
        return self.get_object(kind, obj_id)

    def update_spec(self, kind: str, obj_id: str, spec: JSON) -> DesiredObject:
        with self.tx() as c:
            cur = c.execute(
                "UPDATE objects SET spec = ?, generation = generation + 1, updated = ?"
                " WHERE kind = ? AND id = ? AND deleting = 0",
                (json.dumps(spec), self.clock(), kind, obj_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"{kind} {obj_id} does not exist")
        return self.get_object(kind, obj_id)

    def mark_deleting(self, kind: str, obj_id: str) -> DesiredObject:
        with self.tx() as c:
            cur = c.execute(
                "UPDATE objects SET deleting = 1, generation = generation + 1, updated = ?"
                " WHERE kind = ? AND id = ?",
                (self.clock(), kind, obj_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"{kind} {obj_id} does not exist")
        return self.get_object(kind, obj_id)

    def purge_object(self, kind: str, obj_id: str) -> None:
        """Forget an object for good (the reconciler calls this once it is torn down)."""
        with self.tx() as c:
            c.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, obj_id))
            c.execute("DELETE FROM status WHERE kind = ? AND id = ?", (kind, obj_id))

    def get_object(self, kind: str, obj_id: str) -> DesiredObject:
        row = self.conn.execute(
            "SELECT * FROM objects WHERE kind = ? AND id = ?", (kind, obj_id)
        ).fetchone()
        if row is None:
            raise NotFound(f"{kind} {obj_id} does not exist")
        return _desired(row)

    def find_object(self, kind: str, ref: str) -> DesiredObject:
        """By id, or else by name among live objects."""
        row = self.conn.execute(
            "SELECT * FROM objects WHERE kind = ? AND (id = ? OR (name = ? AND deleting = 0))"
            " ORDER BY id = ? DESC LIMIT 1",
            (kind, ref, ref, ref),
        ).fetchone()
        if row is None:
            raise NotFound(f"{kind} {ref!r} does not exist (no such id or name)")
        return _desired(row)

    def list_objects(
        self, kind: str | None = None, include_deleting: bool = True
    ) -> list[DesiredObject]:
        sql, args = "SELECT * FROM objects WHERE 1 = 1", []
        if kind is not None:
            sql, args = sql + " AND kind = ?", [kind]
        if not include_deleting:
            sql += " AND deleting = 0"
        rows = self.conn.execute(sql + " ORDER BY created, id", args).fetchall()
        return [_desired(r) for r in rows]

    def object_ids(self, kind: str) -> set[str]:
        rows = self.conn.execute("SELECT id FROM objects WHERE kind = ?", (kind,)).fetchall()
        return {r[0] for r in rows}

    # -- observed status -------------------------------------------------------------------
    def set_status(
        self,
        kind: str,
        obj_id: str,
        state: str,
        *,
        observed_generation: int | None = None,
        message: str = "",
        detail: JSON | None = None,
    ) -> None:
        with self.tx() as c:
            row = c.execute(
                "SELECT observed_generation, detail FROM status WHERE kind = ? AND id = ?",
                (kind, obj_id),
            ).fetchone()
            gen = observed_generation
            if gen is None:
                gen = row[0] if row else 0
            merged = json.loads(row[1]) if row else {}
            merged.update(detail or {})
            c.execute(
                "INSERT OR REPLACE INTO status(kind, id, state, observed_generation, message,"
                " detail, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kind, obj_id, state, gen, message, json.dumps(merged), self.clock()),
            )

    def get_status(self, kind: str, obj_id: str) -> ObservedStatus | None:
        row = self.conn.execute(
            "SELECT * FROM status WHERE kind = ? AND id = ?", (kind, obj_id)
        ).fetchone()
        return None if row is None else _status(row)

    def statuses(self, kind: str) -> dict[str, ObservedStatus]:
        rows = self.conn.execute("SELECT * FROM status WHERE kind = ?", (kind,)).fetchall()
        return {r["id"]: _status(r) for r in rows}

    # -- journal ---------------------------------------------------------------------------
    def journal_intent(self, kind: str, obj_id: str, action: str, target: str, args: JSON) -> int:
        with self.tx() as c:
            cur = c.execute(
                "INSERT INTO journal(kind, obj_id, action, target, args, state, created)"
                " VALUES (?, ?, ?, ?, ?, 'intent', ?)",
                (kind, obj_id, action, target, json.dumps(args), self.clock()),
            )
            return int(cur.lastrowid or 0)

    def journal_finish(self, seq: int, state: str, error: str = "") -> None:
        with self.tx() as c:
            c.execute(
                "UPDATE journal SET state = ?, error = ?, finished = ? WHERE seq = ?",
                (state, error, self.clock(), seq),
            )

    def journal_open(self) -> list[JournalEntry]:
        rows = self.conn.execute(
            "SELECT * FROM journal WHERE state = 'intent' ORDER BY seq"
        ).fetchall()
        return [_entry(r) for r in rows]

    def journal_for(self, kind: str, obj_id: str) -> list[JournalEntry]:
        rows = self.conn.execute(
            "SELECT * FROM journal WHERE kind = ? AND obj_id = ? ORDER BY seq", (kind, obj_id)
        ).fetchall()
        return [_entry(r) for r in rows]

    def journal_prune(self, older_than: float) -> int:
        with self.tx() as c:
            cur = c.execute(
                "DELETE FROM journal WHERE state != 'intent' AND finished < ?", (older_than,)
            )
            return cur.rowcount

    # -- IPAM leases -----------------------------------------------------------------------
    def leases(self, subnet_id: str) -> dict[str, str]:
        """address -> port id."""
        rows = self.conn.execute(
            "SELECT address, port_id FROM ipam WHERE subnet_id = ?", (subnet_id,)
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def lease(self, subnet_id: str, port_id: str, candidates: Iterator[str]) -> str | None:
        """The port's address on the subnet: its existing lease, or the first free candidate."""
        with self.tx() as c:
            row = c.execute(
                "SELECT address FROM ipam WHERE subnet_id = ? AND port_id = ?",
                (subnet_id, port_id),
            ).fetchone()
            if row is not None:
                return str(row[0])
            taken = {
                r[0]
                for r in c.execute("SELECT address FROM ipam WHERE subnet_id = ?", (subnet_id,))
            }
            for address in candidates:
                if address not in taken:
                    c.execute(
                        "INSERT INTO ipam(subnet_id, address, port_id) VALUES (?, ?, ?)",
                        (subnet_id, address, port_id),
                    )
                    return address
            return None

    def release(self, port_id: str) -> int:
        with self.tx() as c:
            return c.execute("DELETE FROM ipam WHERE port_id = ?", (port_id,)).rowcount

    # -- meta and credentials --------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def get_credential(self, name: str) -> str | None:
        row = self.conn.execute("SELECT hash FROM credentials WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def add_credential(self, name: str, hashed: str) -> bool:
        """Store a credential hash unless one exists; True when stored."""
        with self.tx() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO credentials(name, hash, created) VALUES (?, ?, ?)",
                (name, hashed, self.clock()),
            )
            return cur.rowcount == 1

    def set_credential(self, name: str, hashed: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE credentials SET hash = ? WHERE name = ?", (hashed, name))

    # -- outbox ----------------------------------------------------------------------------
    def outbox_put(self, kind: str, obj_id: str, op: str, body: JSON) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO outbox(kind, obj_id, op, body, created) VALUES (?, ?, ?, ?, ?)",
                (kind, obj_id, op, json.dumps(body), self.clock()),
            )

    def table_count(self, table: str) -> int:
        if table not in {"outbox", "inbox", "journal", "ipam", "samples", "rollups", "objects"}:
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608


def _desired(row: sqlite3.Row) -> DesiredObject:
    return DesiredObject(
        kind=row["kind"],
        id=row["id"],
        name=row["name"],
        spec=json.loads(row["spec"]),
        generation=row["generation"],
        deleting=bool(row["deleting"]),
        created=row["created"],
    )


def _status(row: sqlite3.Row) -> ObservedStatus:
    return ObservedStatus(
        kind=row["kind"],
        id=row["id"],
        state=row["state"],
        observed_generation=row["observed_generation"],
        message=row["message"],
        detail=json.loads(row["detail"]),
        updated=row["updated"],
    )


def _entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        seq=row["seq"],
        kind=row["kind"],
        obj_id=row["obj_id"],
        action=row["action"],
        target=row["target"],
        args=json.loads(row["args"]),
        state=row["state"],
        error=row["error"],
        created=row["created"],
    )


def insert_objects_sync(
    store: LocalStore,
    objects: list[tuple[str, str, str | None, JSON]],
    leases: list[tuple[str, str, str]],
) -> None:
    """Insert several desired objects and IPAM leases in one transaction (all or nothing).

    ``objects`` are ``(kind, id, name, spec)``; ``leases`` are ``(subnet_id, address,
    port_id)``. A live name already taken raises DuplicateName and nothing is written.
    """
    now = store.clock()
    try:
        with store.tx() as c:
            for kind, obj_id, name, spec in objects:
                c.execute(
                    "INSERT INTO objects(kind, id, name, spec, generation, deleting, created,"
                    " updated) VALUES (?, ?, ?, ?, 1, 0, ?, ?)",
                    (kind, obj_id, name, json.dumps(spec), now, now),
                )
                c.execute(
                    "INSERT OR REPLACE INTO status(kind, id, state, observed_generation,"
                    " message, detail, updated) VALUES (?, ?, 'PENDING', 0, '', '{}', ?)",
                    (kind, obj_id, now),
                )
            c.executemany("INSERT INTO ipam(subnet_id, address, port_id) VALUES (?, ?, ?)", leases)
    except sqlite3.IntegrityError as exc:
        kind, _, name, _ = objects[0]
        raise DuplicateName(f"a {kind} named {name!r} already exists") from exc


def update_specs_sync(store: LocalStore, changes: list[tuple[str, str, JSON]]) -> None:
    """Replace several specs (bumping each generation) in one transaction."""
    with store.tx() as c:
        for kind, obj_id, spec in changes:
            cur = c.execute(
                "UPDATE objects SET spec = ?, generation = generation + 1, updated = ?"
                " WHERE kind = ? AND id = ? AND deleting = 0",
                (json.dumps(spec), store.clock(), kind, obj_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"{kind} {obj_id} does not exist")


def mark_deleting_sync(store: LocalStore, keys: list[tuple[str, str]]) -> None:
    """Mark several objects for deletion in one transaction."""
    with store.tx() as c:
        for kind, obj_id in keys:
            c.execute(
                "UPDATE objects SET deleting = 1, generation = generation + 1, updated = ?"
                " WHERE kind = ? AND id = ?",
                (store.clock(), kind, obj_id),
            )


def purge_server_sync(store: LocalStore, server_id: str, port_ids: list[str]) -> None:
    """Forget a torn-down server: its ports, their leases, and its volume attachments."""
    with store.tx() as c:
        for port_id in port_ids:
            c.execute("DELETE FROM ipam WHERE port_id = ?", (port_id,))
            c.execute("DELETE FROM objects WHERE kind = 'port' AND id = ?", (port_id,))
            c.execute("DELETE FROM status WHERE kind = 'port' AND id = ?", (port_id,))
        for row in c.execute("SELECT id, spec FROM objects WHERE kind = 'volume'").fetchall():
            spec = json.loads(row[1])
            if spec.get("server") == server_id:
                spec["server"] = None
                c.execute(
                    "UPDATE objects SET spec = ?, generation = generation + 1 WHERE kind = "
                    "'volume' AND id = ?",
                    (json.dumps(spec), row[0]),
                )
        c.execute("DELETE FROM objects WHERE kind = 'server' AND id = ?", (server_id,))
        c.execute("DELETE FROM status WHERE kind = 'server' AND id = ?", (server_id,))


def release_orphan_leases_sync(store: LocalStore) -> int:
    """Drop leases whose port is no longer desired (a crash between purge steps)."""
    with store.tx() as c:
        return c.execute(
            "DELETE FROM ipam WHERE port_id NOT IN (SELECT id FROM objects WHERE kind = 'port')"
        ).rowcount
