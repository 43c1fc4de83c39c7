"""Errors of the site agent, under the shared tree in :mod:`atoll.errors`::

    AtollError
    ├── InvalidInput
    │   └── BadSpec            a desired object cannot be built as specified (400)
    ├── Conflict
    │   ├── DuplicateName      another object of the kind has that name (409)
    │   └── InsufficientCapacity  the host cannot hold the server (409; says what is short)
    ├── NotFound               (404, unchanged)
    ├── Unauthenticated        (401, unchanged)
    └── DependencyError
        ├── TemporaryError
        │   ├── StoreBusy      SQLite is locked; retry shortly
        │   └── HubLinkDown    the sync session with the hub ended (unreachable, closed,
        │                      a bad frame, silence); it reconnects with backoff
        └── PermanentError
            └── StoreCorrupt   the local database cannot be read; a person must look

Driver errors come from the drivers' own modules and already derive from
``TemporaryError``/``PermanentError``; the reconciler decides retry on that alone.
"""

from __future__ import annotations

from atoll.errors import Conflict, InvalidInput, PermanentError, TemporaryError


class BadSpec(InvalidInput):
    code = "bad_spec"


class DuplicateName(Conflict):
    code = "duplicate_name"


class InsufficientCapacity(Conflict):
    """A server's vCPUs, RAM or root disk do not fit in what the host has left."""

    code = "insufficient_capacity"


class StoreBusy(TemporaryError):
    code = "store_busy"


class StoreCorrupt(PermanentError):
    code = "store_corrupt"


class HubLinkDown(TemporaryError):
    code = "hub_link_down"
