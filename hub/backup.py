"""``atoll hub backup FILE`` / ``atoll hub restore FILE --data-dir EMPTY``.

A hub backup (:mod:`atoll.backup`) holds the whole data directory: the SQLite store
(``hub.db``) and the fleet's telemetry (``telemetry.sqlite``), each a consistent snapshot
taken while the hub runs (not its files as they are, WAL and all), the CA and its key, the
server certificate and key, the token signing key (so tokens issued before the backup
verify after a restore, and so do sites that trust it), the admin seed, and the files
(image chunks under ``images/``, VNF packages under ``vnf_packages/``). A hub whose store
is etcd keeps its objects in etcd: the backup then has the keys and files only, and the
store is backed up with ``etcdctl snapshot save`` (the command says so).

A restore gives the restored SQLite store a new history id (:mod:`atoll.hub.store.history`):
its revisions count again from the backup's, so a site that applied revisions of the hub
before the restore starts over with a snapshot, keeps what it made itself and offers it to
the hub again (``sync/PROTOCOL.md``). A backup of a hub on etcd holds no store (it is
restored with ``etcdctl snapshot restore``): the restore leaves a mark in the data dir that
makes the hub started from it give the store a new history id (:mod:`atoll.hub.store.history`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from atoll import backup
from atoll.hub.bootstrap import DataDir
from atoll.hub.settings import HubSettings
from atoll.hub.store.history import MARK_FILE, Mark, new_history, write_mark
from atoll.hub.store.sqlite import SQLiteStore
from atoll.hub.telemetry.keeper import FILE as TELEMETRY_FILE

COMPONENT = "hub"
DATABASE = "hub.db"


def back_up(settings: HubSettings, archive: Path) -> tuple[backup.Summary, str | None]:
    """The backup of the hub's data dir, and a warning when its store is not in it."""
    layout = DataDir(settings.data_dir)
    layout.check_initialised()
    databases = [layout.path / DATABASE, layout.path / TELEMETRY_FILE]
    summary = backup.backup(settings.data_dir, archive, COMPONENT, databases)
    warning = None
    if settings.store != "sqlite":
        warning = (
            f"the store is {settings.store}, not in this backup (keys and files are): "
            "back an etcd store up with 'etcdctl snapshot save'"
        )
    return summary, warning


def restore(archive: Path, data_dir: Path) -> tuple[backup.Summary, str | None]:
    """Restore ``archive`` into ``data_dir``; the summary, and the restored store's new
    history id (None: the backup holds no store, its store being etcd)."""
    summary = backup.restore(archive, data_dir, COMPONENT)
    database = data_dir / DATABASE
    if not database.exists():  # etcd: the hub started from here renews the store's history
        write_mark(data_dir / MARK_FILE, Mark("", 0, renew=True))
        return summary, None
    return summary, asyncio.run(renew_history(database))


async def renew_history(database: Path) -> str:
    """Give the SQLite store at ``database`` a new history id (it was put back from a
    backup); the id."""
    store = SQLiteStore(database)
    try:
        return await new_history(store)
    finally:
        await store.close()
