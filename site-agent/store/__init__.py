"""The agent's local SQLite database (WAL), one module per concern.

- :mod:`.database`: the connection, its single worker thread (:meth:`LocalStore.call`),
  transactions, opening with migrations; :mod:`.schema`: the schema version and the forward
  migrations run at every open (a store written by an older agent opens and upgrades).
- :mod:`.desired`: desired objects, with who owns them (origin, hub revision, project id).
- :mod:`.deleted`: deletes of objects the site made and offered to the hub, remembered (for
  a hub restored from a backup), within :class:`DeletesKept`.
- :mod:`.observed`: observed status, numbered by the site's own sequence.
- :mod:`.journal`: the operation journal (intent before the act).
- :mod:`.leases`: IPAM address leases. :mod:`.credentials`: credentials and small settings.
- :mod:`.queues`: the sync outbox/inbox.
- The telemetry ring's tables (``samples``, ``rollups``) belong to :mod:`atoll.site_agent.ring`.

Every table method is blocking and runs on the store's own worker thread through
:meth:`LocalStore.call`, so the event loop never blocks on SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from atoll.ids import Origin
from atoll.jsonbody import JSON
from atoll.site_agent.store.credentials import CredentialTables
from atoll.site_agent.store.deleted import DeletesKept
from atoll.site_agent.store.desired import DesiredObject, DesiredTable, NewObject
from atoll.site_agent.store.journal import JournalEntry, JournalTable
from atoll.site_agent.store.leases import LeaseTable
from atoll.site_agent.store.observed import ObservedStatus, ObservedTable
from atoll.site_agent.store.queues import QueueTables


class LocalStore(
    DesiredTable, ObservedTable, JournalTable, LeaseTable, CredentialTables, QueueTables
):
    """One SQLite file, one connection, one worker thread; every table's methods."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.time,
        deletes_kept: DeletesKept | None = None,
    ) -> None:
        super().__init__(path, clock)
        self.deletes_kept = deletes_kept or DeletesKept()

    async def open(self) -> LocalStore:
        await self.call(self.open_blocking)
        return self


__all__ = [
    "JSON",
    "DeletesKept",
    "DesiredObject",
    "JournalEntry",
    "LocalStore",
    "NewObject",
    "ObservedStatus",
    "Origin",
]
