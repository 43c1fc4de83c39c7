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

An etcd store restored with ``etcdctl snapshot restore`` is out of the hub's hands: it keeps
the snapshot's id, and its sites are caught only as before a history id existed, by their
applied revision being above the store's (a limitation: PROTOCOL.md says what follows).

A site says in its hello the history of the revisions it applied, and the hub starts such a
site over with a snapshot when it is not the store's (:mod:`atoll.hub.sync.session`).
"""

from __future__ import annotations

import secrets

from atoll.errors import StaleRevision
from atoll.hub.store.base import Store
from atoll.hub.store.query import get_or_none

KIND = "store_meta"
KEY = "history"


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
