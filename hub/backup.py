"""``atoll hub backup FILE`` / ``atoll hub restore FILE --data-dir EMPTY``.

A hub backup (:mod:`atoll.backup`) holds the whole data directory: the SQLite store
(``hub.db``) and the fleet's telemetry (``telemetry.sqlite``), each a consistent snapshot
taken while the hub runs (not its files as they are, WAL and all), the CA and its key, the
server certificate and key, the token signing key (so tokens issued before the backup
verify after a restore, and so do sites that trust it), the admin seed, and the files
(image chunks under ``images/``, VNF packages under ``vnf_packages/``). A hub whose store
is etcd keeps its objects in etcd: the backup then has the keys and files only, and the
store is backed up with ``etcdctl snapshot save`` (the command says so).
"""

from __future__ import annotations

from pathlib import Path

from atoll import backup
from atoll.hub.bootstrap import DataDir
from atoll.hub.settings import HubSettings
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


def restore(archive: Path, data_dir: Path) -> backup.Summary:
    return backup.restore(archive, data_dir, COMPONENT)
