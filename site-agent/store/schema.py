"""The local database's schema, its version, and the forward migrations run at every open.

``PRAGMA user_version`` holds the schema version. A database written before versions were
kept reads 0 while its tables exist: that is version 1. A new database is made as version 1
and migrated forward like an old one, so every migration runs on every fresh store and the
path an upgraded site takes is the path the tests take.

Add a version by appending to :data:`MIGRATIONS` (never edit one that shipped); each runs in
one transaction with the version bump, so a crash mid-migration leaves the old version.
"""

from __future__ import annotations

import sqlite3

from atoll import ids
from atoll.errors import InvalidId

# Version 1: the agent's schema before versions were kept (as it shipped).
V1 = """
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

# (version, what it changes, statements). Never edit one that shipped; append.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        2,
        "who owns what: desired objects carry origin (hub|site), the hub revision they were "
        "based on and their project id; observed status carries the site's own sequence "
        "number, from a counter that never goes back",
        (
            "ALTER TABLE objects ADD COLUMN origin TEXT NOT NULL DEFAULT 'site'",
            "ALTER TABLE objects ADD COLUMN hub_revision INTEGER",
            "ALTER TABLE objects ADD COLUMN project_id TEXT",
            "ALTER TABLE status ADD COLUMN seq INTEGER NOT NULL DEFAULT 0",
            "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
            "INSERT INTO counters(name, value) VALUES ('status_seq', 0)",
            # number what was observed before, in a stable order, so the hub can ask for it
            "UPDATE status SET seq = (SELECT count(*) FROM status AS s WHERE s.rowid <= "
            "status.rowid)",
            "UPDATE counters SET value = (SELECT count(*) FROM status) WHERE name = 'status_seq'",
            "CREATE INDEX status_seq ON status(seq)",
        ),
    ),
    (
        3,
        "sync queues: the outbox holds numbered facts (events, operation records, telemetry "
        "batches) taking their seq from the status counter, and whether an operation holds "
        "hub changes to its object; the inbox holds hub changes persisted before they are "
        "acked, in order, until applied; snapshot names collect the objects a snapshot in "
        "progress named; counters keep the applied hub revision and the hub's acked seq",
        (
            "DROP TABLE outbox",  # both were empty: nothing used them before this version
            "DROP TABLE inbox",
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, kind TEXT,"
            " obj_id TEXT, holds INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL,"
            " created REAL NOT NULL)",
            "CREATE INDEX outbox_holds ON outbox(kind, obj_id) WHERE holds = 1",
            "CREATE TABLE inbox (pos INTEGER PRIMARY KEY AUTOINCREMENT,"
            " revision INTEGER NOT NULL, op TEXT NOT NULL, kind TEXT NOT NULL,"
            " obj_id TEXT NOT NULL, body TEXT NOT NULL, override INTEGER NOT NULL DEFAULT 0,"
            " held INTEGER NOT NULL DEFAULT 0, received REAL NOT NULL)",
            "CREATE TABLE snapshot_names (revision INTEGER NOT NULL, kind TEXT NOT NULL,"
            " obj_id TEXT NOT NULL, PRIMARY KEY (kind, obj_id))",
            "INSERT INTO counters(name, value) VALUES ('applied_revision', 0),"
            " ('acked_seq', 0), ('sent_seq', 0), ('telemetry_shipped', 0)",
        ),
    ),
    (
        4,
        "what a hub restored from a backup must hear again: an object the site made is "
        "marked offered when a create operation record is written for it (not the default "
        "flavors); deletes of objects the site made and offered are remembered (kind, id, "
        "the object as it was, when), bounded by [hub] sync_deletes_kept/_days",
        (
            "ALTER TABLE objects ADD COLUMN offered INTEGER NOT NULL DEFAULT 0",
            # which objects were offered before the mark was kept: every one the site made
            # (its id says so) of a kind the hub adopts but flavors, which the site seeds
            # itself; flavors adopted (a hub revision) or with a create still to go up
            "UPDATE objects SET offered = 1 WHERE origin = 'site' AND site_minted(id)"
            " AND kind IN ('server', 'volume', 'subnet', 'network', 'flavor')"
            " AND (kind != 'flavor' OR hub_revision IS NOT NULL OR EXISTS (SELECT 1"
            " FROM outbox WHERE outbox.type = 'operation' AND outbox.kind = objects.kind"
            " AND outbox.obj_id = objects.id AND json_extract(outbox.body, '$.op') = 'create'))",
            "CREATE TABLE deleted (kind TEXT NOT NULL, obj_id TEXT NOT NULL,"
            " desired TEXT NOT NULL, deleted REAL NOT NULL, PRIMARY KEY (kind, obj_id))",
            "CREATE INDEX deleted_at ON deleted(deleted)",
        ),
    ),
)
LATEST = MIGRATIONS[-1][0] if MIGRATIONS else 1


def site_minted(obj_id: str) -> bool:
    """Whether a site minted ``obj_id`` (:func:`atoll.ids.origin_of`); also the migrations'
    SQL function ``site_minted(id)``. Text that is no id is not a site's."""
    try:
        return ids.origin_of(obj_id) == "site"
    except InvalidId:
        return False


def version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (0: empty)."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found:
        return found
    has_tables = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'objects'"
    ).fetchone()
    return 1 if has_tables else 0


def migrate(conn: sqlite3.Connection) -> tuple[int, int]:
    """Bring the database to :data:`LATEST`; returns (version found, version now).

    A database newer than this agent (written by a later version, then downgraded) is
    refused by the caller: its meaning is unknown here.
    """
    found = version(conn)
    if found > LATEST:
        return found, found
    if found == 0:
        conn.executescript(V1)
        conn.execute("PRAGMA user_version = 1")
    current = max(found, 1)
    conn.create_function("site_minted", 1, site_minted, deterministic=True)
    for number, _, statements in MIGRATIONS:
        if number <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        current = number
    return found, current
