"""The history of the hub's store the site's revisions count (``sync/PROTOCOL.md``).

The site keeps the history id of the hub store whose revisions it applied (``meta`` key
:data:`META_KEY`, beside the ``applied_revision`` counter) and says it in every hello. A
welcome naming another history than the one it holds means the hub's store was put back
from a backup (``atoll hub restore``): the revisions the site has count nothing there, and
what the hub adopted from the site since the backup is unknown to it. Then, in one
transaction (:func:`start_over_blocking`), before any fact of the session goes up:

- every object the site made and offered to the hub, not being deleted, is offered again
  as when it was made: a ``create`` operation record (holding hub changes to it until the
  hub acks it), and it forgets its hub revision, so the snapshot's sweep keeps it (it
  removes only what the hub knows) and the hub's adoption comes down as a newer revision.
  *Made and offered* (:attr:`~atoll.site_agent.store.DesiredObject.offered_to_hub`): a site
  id, and a ``create`` record was written for it (marked ``offered`` in the same
  transaction) or the hub adopted it (a hub revision). So an object whose ``create`` the
  old hub acknowledged but whose adoption had not come down is offered too, while the
  default flavors (seeded at first start, with no record: they never go to the hub) and
  hub objects a local action touched (origin ``site`` until the hub's revision of the
  action comes down; a hub id) are not. An object whose ``create`` is still in the outbox
  is not offered twice: that row goes up again below;
- every delete the site remembers (:mod:`atoll.site_agent.store.deleted`: of objects it
  made and offered, within ``[hub] sync_deletes_kept``/``_days``) is sent again, a
  ``delete`` record (``base_hub_revision`` null, the object as it was), after the creates:
  the restored hub may have adopted the object before the backup and would place it back.
  While the site remembers the delete, a put of that object (the snapshot's) does not make
  it again, unless it carries ``override`` (the NOC kept the hub's side of a conflict);
- the objects the hub placed keep being the hub's, with revision 0 (of no history): the
  snapshot's put of each is newer whatever its revision, so the restored hub's intent wins,
  and the sweep removes those it does not name. Hub-made objects the site deleted after the
  backup come back so (no delete of theirs is remembered): the restored hub's intent wins;
- the outbox's rows not yet acknowledged (local changes the old hub never recorded) are
  numbered again after those records, in their order (a change of an object comes after
  its create), and every status after them, so all go up again (the restored hub knows
  older statuses, or none);
- the inbox (changes of the old history not yet applied) is dropped, ``applied_revision``
  goes to 0 (the next hello asks for a snapshot, should this one be cut short) and the new
  history id is kept.

A site that holds no history (new, or from before history ids) takes the welcome's; a hub
that says none (older) changes nothing.
"""

from __future__ import annotations

import logging

from atoll.site_agent.hub_intent import HUB_KINDS
from atoll.site_agent.operations import desired_wire_blocking, operation_body
from atoll.site_agent.store import LocalStore
from atoll.site_agent.store.database import next_seq
from atoll.site_agent.store.queues import add_fact

log = logging.getLogger(__name__)

META_KEY = "hub_history"
ACTOR = "resync"  # who offers the site's objects again (the operation records' actor)


def hub_history_blocking(store: LocalStore) -> str:
    """The history id of the hub store whose revisions the site applied ("": none)."""
    return store.get_meta(META_KEY) or ""


def welcome_history_blocking(store: LocalStore, history: str) -> int | None:
    """The welcome says the hub's store is of ``history``: keep it, starting over when the
    site holds another one. How many site-made objects were offered again (None: the
    history did not change)."""
    if not history:
        return None  # an older hub: it says nothing
    held = hub_history_blocking(store)
    if held == history:
        return None
    if not held:
        store.set_meta(META_KEY, history)
        return None
    return start_over_blocking(store, history)


def start_over_blocking(store: LocalStore, history: str) -> int:
    """Start the site over on the hub store's ``history`` (see the module docstring); how
    many site-made objects were offered again."""
    waiting = store.pending_creates()  # their create goes up again with the outbox's rows
    mine = [
        obj
        for kind in reversed(HUB_KINDS)  # what others use first: flavors, networks, ...
        for obj in store.list_objects(kind, include_deleting=False)
        if obj.offered_to_hub
    ]
    offers = [
        (obj, desired_wire_blocking(store, obj))
        for obj in mine
        if (obj.kind, obj.id) not in waiting
    ]
    now = store.clock()
    with store.tx() as c:
        deletes = store.deleted_objects(c)
        pending = [row[0] for row in c.execute("SELECT seq FROM outbox ORDER BY seq")]
        for obj, desired in offers:
            desired["hub_revision"] = None
            body = operation_body("create", obj.kind, obj.id, None, desired, at=now, actor=ACTOR)
            add_fact(c, "operation", body, kind=obj.kind, obj_id=obj.id, holds=True, now=now)
        for gone in deletes:
            desired = {**gone.desired, "hub_revision": None}
            body = operation_body("delete", gone.kind, gone.obj_id, None, desired, at=now,
                                  actor=ACTOR)  # fmt: skip
            add_fact(c, "operation", body, kind=gone.kind, obj_id=gone.obj_id, holds=True,
                     now=now)  # fmt: skip
        for obj in mine:
            c.execute(
                "UPDATE objects SET hub_revision = NULL WHERE kind = ? AND id = ?",
                (obj.kind, obj.id),
            )
        c.execute("UPDATE objects SET hub_revision = 0 WHERE hub_revision IS NOT NULL")
        for seq in pending:  # after the creates: a change of an object follows its create
            c.execute("UPDATE outbox SET seq = ? WHERE seq = ?", (next_seq(c), seq))
        statuses = c.execute("SELECT kind, id FROM status ORDER BY seq").fetchall()
        for kind, obj_id in statuses:
            c.execute(
                "UPDATE status SET seq = ? WHERE kind = ? AND id = ?", (next_seq(c), kind, obj_id)
            )
        c.execute("DELETE FROM inbox")
        c.execute("DELETE FROM snapshot_names")
        c.execute("UPDATE counters SET value = 0 WHERE name = 'applied_revision'")
        c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (META_KEY, history))
    log.warning(
        "the hub's history changed (restored from a backup?): starting over from its "
        "snapshot; %d site-made objects offered again, %d deletes of them sent again",
        len(offers),
        len(deletes),
    )
    return len(offers)
