"""The store's history id: which history the store's revisions count (``sync/PROTOCOL.md``).

Revisions only mean something within one history: a store put back from a backup
(``atoll hub restore``) counts again from the backup's revision, and its revision 120 is
not the revision 120 a site applied before the restore. So the store keeps a random id of
its history, one record (kind :data:`KIND`, key :data:`KEY`) in the store itself, so a
SQLite file and an etcd cluster carry it alike:

- :func:`history_id` reads it, making it the first time (the hub's first start on a new
  store; every hub process on one etcd store reads the same one: the first to write wins);
- :func:`new_history` writes a new one: ``atoll hub restore`` calls it on the restored
  SQLite store (:mod:`atoll.hub.backup`).

An etcd store restored with ``etcdctl snapshot restore`` keeps the snapshot's id, and no
command of ours ran on it. So each hub process keeps a mark in its data dir
(:data:`MARK_FILE`: the store's history id and the highest revision it saw of it, written
at most every :data:`MARK_INTERVAL` seconds and when it stops), and at start
(:func:`checked_history`) a store of that same history whose revision is below the mark has
gone back in time: it gets a new id (compare-and-swap on the id's record, so of several hub
processes on one store the first to see it renews it and the others read theirs). A
snapshot taken after the last mark was written is not caught that way; but ``atoll hub
restore`` of a hub whose store is etcd (its backup holds no store) leaves a mark that says
*renew* in the restored data dir: the hub started from it gives the store a new history
whatever the revisions say (a restore is a disaster recovery: a needless new history costs
the sites a snapshot, a missed one their own objects).

A site says in its hello the history of the revisions it applied, and the hub starts such a
site over with a snapshot when it is not the store's (:mod:`atoll.hub.sync.session`).
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from atoll.errors import StaleRevision
from atoll.hub.store.base import Store
from atoll.hub.store.query import get_or_none
from atoll.private_files import write_atomically

log = logging.getLogger(__name__)

KIND = "store_meta"
KEY = "history"
MARK_FILE = "store-history.json"  # in the hub's data dir
MARK_INTERVAL = 60.0  # seconds between writes of the mark while the hub runs


def _made() -> str:
    return secrets.token_hex(16)


async def history_id(store: Store) -> str:
    """The store's history id, made (once, whoever writes first) if it has none."""
    for _ in range(3):
        found = await get_or_none(store, KIND, KEY)
        if found is not None:
            return str(found.value["id"])
        made = _made()
        try:
            await store.put(KIND, KEY, {"id": made}, expect_revision=0)
        except StaleRevision:
            continue  # another hub process made it first: read theirs
        return made
    raise RuntimeError("the store's history id could not be read or made")


async def new_history(store: Store) -> str:
    """A new history id for ``store`` (its revisions start a history of their own: a
    restored backup); the id."""
    made = _made()
    await store.put(KIND, KEY, {"id": made})
    return made


@dataclass(frozen=True)
class Mark:
    """What one hub process last saw of its store: its history id and revision."""

    history: str
    revision: int
    renew: bool = False  # a restored data dir: the store starts a new history at next start


def read_mark(path: Path) -> Mark | None:
    """The mark at ``path``; None if there is none or it cannot be read (a new data dir, a
    torn write: the next write makes it again)."""
    try:
        found = json.loads(path.read_text())
        return Mark(str(found["history"]), int(found["revision"]), found.get("renew") is True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def write_mark(path: Path, mark: Mark) -> None:
    """Write the mark at ``path`` (0600) in place of the old one, whole or not at all."""
    body = {"history": mark.history, "revision": mark.revision, "renew": mark.renew}
    write_atomically(path, json.dumps(body).encode(), private=True)


async def checked_history(store: Store, mark_path: Path) -> str:
    """The store's history id (:func:`history_id`), renewed first if the store is behind the
    mark at ``mark_path`` of that same history: it was put back from a snapshot."""
    mark = read_mark(mark_path)
    if mark is None:
        return await history_id(store)
    record = await get_or_none(store, KIND, KEY)
    revision = await store.revision()
    if mark.renew:
        why = "this hub's data dir was restored from a backup"
    elif (
        record is not None and record.value.get("id") == mark.history and (revision < mark.revision)
    ):
        why = f"the store is at revision {revision}, behind the {mark.revision} this hub saw"
    else:
        return await history_id(store)
    try:
        made = _made()
        await store.put(KIND, KEY, {"id": made}, expect_revision=record.revision if record else 0)
        log.warning(
            "%s: the store starts a new history (%s); its sites start over from a snapshot "
            "and offer again what they made",
            why,
            made,
        )
    except StaleRevision:
        pass  # another hub process on this store renewed it first
    current = await history_id(store)
    if mark.renew:  # done: the mark the sweep writes next is an ordinary one
        write_mark(mark_path, Mark(current, await store.revision()))
    return current
