"""Anti-entropy on the hub (protocol version 2): digest checks against one site, and repairs.

Every ``digest_interval`` seconds, when a session is idle (everything sent is acknowledged),
its down task (:meth:`atoll.hub.sync.session.Session.down`) runs one check: the hub's items
are the objects it has intent for at the site (key ``<kind>/<id>``, their hub revision;
hub-origin ones and the site-made ones it adopted), the
:class:`atoll.sync.digest.Reconciler` finds the keys that differ in a few digest rounds
(the site answers each with :func:`atoll.sync.digest.respond`), and each difference is
repaired with a ``changes`` frame whose items carry ``repair=true``: the hub's object (a
put) or, for an object the hub does not have, a delete. Objects held by an open conflict
are left out on both counts: the site keeps its own version until someone resolves it.
Repairs are logged and counted on the site record (``sync.repairs``).

A frame is sent only by the down task, so a check never interleaves with changes; items
written while the rounds run may show as differences, and their repair resends what is
already on its way (idempotent). A reply that does not fit the exchange
(:class:`atoll.sync.digest.DigestError`) or none within ``dead_after`` ends the session.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from atoll.hub.sites import intent
from atoll.hub.store.base import Record, Store
from atoll.sync import digest, frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """What one check found: the repairs to send (by key), the keys held by conflicts."""

    puts: list[Record]
    deletes: list[str]


async def hub_items(store: Store, site_id: str) -> tuple[digest.Items, dict[str, Record]]:
    """The hub's items for a site (every object it has intent for, adopted ones too, held
    ones left out) and all its records by key (tombstones and held ones too)."""
    records = {
        digest.key_of(r.value["kind"], r.value["id"]): r
        for r in await intent.placed_at(store, site_id)
    }
    pairs = [
        (key, r.revision)
        for key, r in records.items()
        if r.value.get("desired") is not None and not r.value.get("conflict")
    ]
    return digest.Items(pairs), records


def plan(found: tuple[digest.Difference, ...], records: dict[str, Record]) -> Plan:
    """Put what the hub has; delete only what the hub has no intent for at all (never an
    object it holds, nor one it knows under another rule)."""
    puts: list[Record] = []
    deletes: list[str] = []
    for difference in found:
        record = records.get(difference.key)
        if record is not None and record.value.get("conflict"):
            continue  # held: the site's version stands until the conflict is resolved
        if difference.hub is not None and record is not None:
            puts.append(record)
        elif record is None or record.value.get("desired") is None:
            deletes.append(difference.key)
    return Plan(puts, deletes)


async def replies_for(
    replies: asyncio.Queue[frames.Digest], rec: digest.Reconciler, within: float
) -> list[tuple[frames.DigestRange, ...]]:
    """Read the site's replies until the round's next request frames (or the end)."""
    while True:
        async with asyncio.timeout(within):
            reply = await replies.get()
        following = rec.read(reply)
        if following or rec.done:
            return following
