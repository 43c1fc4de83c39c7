"""Site-authored operation records: adopt them, or hold the hub's intent and open a conflict.

PROTOCOL.md "Offline operation and conflicts". Recording an operation (fact ``seq`` of a
site) is one commit: the operation record (``site_operation``, key ``<site>/<seq>``, created
once: a resent fact finds it and changes nothing) together with its effect:

- ``create`` of an object the hub does not have: adopted, written as a ``site_object`` with
  origin ``site`` (it goes back down with a hub revision; the site sees its own spec), while
  the site has fewer than ``[hub] site_object_limit`` objects of its own at the hub
  (:class:`ObjectBudget`); beyond it the create is refused with :class:`OverLimit` (the
  caller keeps it as a ``refused_fact`` event, :mod:`.facts`); the site deleting objects it
  made makes room again;
- ``update``/``action`` (with a desired object) or ``delete`` of an object whose hub revision
  is still the operation's ``base_hub_revision`` (or whose spec already matches): adopted;
  a site-made object the hub adopted and never changed counts as unchanged whatever the
  base (the site may change or delete it before the hub's copy reaches it);
- ``action`` ``alarm_state`` on an ``alarm``: a site-scope alarm's state change, kept as
  its history (:func:`atoll.hub.alarms.records.site_change`);
- anything else: a ``conflict`` object, and the ``site_object`` is marked with its id, so
  the hub holds its intent (does not send it) until :func:`resolve` decides. A change to an
  object the hub no longer has (deleted at the hub while the site changed it) opens one
  conflict per object, updated by the site's later changes to it; it holds the site's
  version as an adopted object would, so it counts against the same ``site_object_limit``.

A site speaks only for what is placed at it and for its own local scope (:func:`_in_scope`):
an object the hub has stays in its project (the site may leave the project out, or name
that one); one the hub does not have is in no project (made at the site), or in a project
the hub has placed something for at this site. An operation naming any other project is
``refused`` (kept with the reason, logged, acknowledged): a stolen site certificate cannot
plant objects in, move objects into, or open conflicts for tenants the site does not serve.

Resolving ``keep="hub"`` writes the hub's intent again with ``override`` (the site applies
it over its own change; a hub-side delete becomes a tombstone sent as a delete with
``override``, then removed); ``keep="site"`` adopts the site's version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from atoll import ids
from atoll.errors import (
    AtollError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OverLimit,
    StaleRevision,
)
from atoll.hub.alarms import records as alarms
from atoll.hub.sites import intent
from atoll.hub.store.base import Delete, Put, Record, Store, Write
from atoll.hub.store.query import get_or_none, list_all
from atoll.jsonbody import JSON
from atoll.resources import SPECS, Desired, clip

log = logging.getLogger(__name__)

Keep = Literal["site", "hub"]
RECOUNT_AFTER = 60.0  # seconds a full ObjectBudget trusts its count before reading it again


@dataclasses.dataclass
class ObjectBudget:
    """The objects a site made that the hub adopted (``site_object`` records of origin
    ``site`` under its key range; not those the hub placed there), kept to ``limit``.

    Counted as :class:`atoll.hub.sync.facts.FactBudget` counts: its session reads them once,
    at the first ``create`` it would adopt, then keeps the count as this site's operations
    adopt (+1) and delete (-1) them. Others change them too (the NOC deleting one through the
    API, resolving a conflict): a count that says full is read again before a create is
    refused, at most every :data:`RECOUNT_AFTER` seconds, so a site at its limit sending
    creates costs no more than one read a minute. Sessions of one site racing each other
    may go over by what they adopt at once (never further: the next count sees them)."""

    limit: int
    count: int | None = None
    counted_at: float = 0.0
    clock: Callable[[], float] = time.monotonic

    async def room(self, store: Store, site: JSON) -> bool:
        """Whether one more object made at ``site`` may be adopted (or held in a conflict)."""
        stale = self.clock() - self.counted_at >= RECOUNT_AFTER
        if self.count is None or (self.count >= self.limit and stale):
            made = await list_all(store, intent.SITE_OBJECT, {"origin": "site"},
                                  key_prefix=intent.site_prefix(site["id"]))  # fmt: skip
            held = await list_all(store, intent.CONFLICT, {"site_id": site["id"],
                                  "state": "open", "hub_revision": None})  # fmt: skip
            self.count, self.counted_at = len(made) + len(held), self.clock()
        return self.count < self.limit

    async def claim(self, store: Store, site: JSON, kind: str, object_id: str) -> None:
        """OverLimit unless ``site`` has room for one more object of its own at the hub."""
        if not await self.room(store, site):
            raise OverLimit(
                f"{kind} {object_id} is not kept: site {site['name']} has {self.limit} "
                "objects of its own at the hub already (adopted, or held in conflicts), as "
                "many as it may have ([hub] site_object_limit); delete some at the site or "
                "resolve its conflicts first"
            )

    def made(self, n: int) -> None:
        """``n`` objects made at the site were adopted (or, below 0, removed)."""
        if self.count is not None:
            self.count = max(self.count + n, 0)


class Decision(NamedTuple):
    """What one operation does: its outcome, the writes, and how many objects made at the
    site the writes add (1) or remove (-1) at the hub."""

    outcome: str
    writes: list[Write]
    made: int = 0


def _same_spec(record: Record | None, desired: Desired | None) -> bool:
    if record is None or desired is None or record.value.get("desired") is None:
        return False
    return bool(record.value["desired"].get("spec") == desired.spec.to_wire())


def _parse(body: JSON) -> tuple[str, str, str, int | None, Desired | None]:
    op, kind, object_id = body.get("op"), body.get("kind"), body.get("id")
    if op not in ("create", "update", "delete", "action"):
        raise InvalidInput(f"op {op!r} is not create, update, delete or action")
    if kind not in SPECS or not ids.is_id(object_id):
        raise InvalidInput(f"an operation on {kind!r} {object_id!r} names no known object")
    base = body.get("base_hub_revision")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool) or base < 0):
        raise InvalidInput(f"base_hub_revision {base!r} is not a revision")
    raw = body.get("desired")
    desired = None if raw is None else Desired.from_wire(raw, where="desired")
    if desired is not None and (desired.kind != kind or desired.meta.id != object_id):
        raise InvalidInput("the operation's desired object is not the object it names")
    if op in ("create", "update") and desired is None:
        raise InvalidInput(f"a {op} operation carries the desired object")
    return op, kind, str(object_id), base, desired


async def record_operation(
    store: Store, site: JSON, seq: int, body: Any, now: str, objects: ObjectBudget | None = None
) -> str:
    """Record fact ``seq`` (an operation record) of ``site`` once; the outcome:
    ``adopted``, ``conflict``, ``recorded`` (nothing to adopt), ``refused`` (not valid: kept
    with the reason) or ``duplicate`` (recorded before). A ``create`` the site's ``objects``
    budget has no room for raises :class:`OverLimit` and records nothing."""
    op_key = intent.fact_key(site["id"], seq)
    stored: JSON = {
        "site_id": site["id"], "site": site["name"], "seq": seq, "received_at": now,
        "operation": body,
    }  # fmt: skip
    for _ in range(10):
        if await get_or_none(store, intent.SITE_OPERATION, op_key) is not None:
            return "duplicate"
        made = 0
        try:
            outcome, writes, made = await _decide(store, site, seq, body, now, objects)
        except OverLimit:
            raise  # not a bad operation: the site's share of the store is full
        except (InvalidInput, Forbidden, AttributeError, TypeError) as exc:
            reason = clip(exc.message if isinstance(exc, AtollError) else str(exc))
            outcome, writes = "refused", []
            stored["reason"] = reason
            log.warning("site %s operation %d refused: %s", site["name"], seq, reason)
        stored["outcome"] = outcome
        stored.update(await _owner(store, site, body))
        record = Put(intent.SITE_OPERATION, op_key, stored, expect_revision=0)
        try:
            await store.commit([*writes, record])
            if objects is not None:
                objects.made(made)
            return outcome
        except (StaleRevision, NotFound):
            continue  # the object changed meanwhile: decide again
    raise Conflict(f"site {site['name']} operation {seq}: its object kept changing")


LOCAL_HEALS = ("restart", "recreate")  # actions by which a site heals a server itself
OWNER = "vnf_instance_id"  # the field of a site object naming the VNF instance that owns it


async def _owner(store: Store, site: JSON, body: Any) -> JSON:
    """For a local heal of a server a VNF instance owns: ``{vnf_instance_id, lcm_history:
    "pending"}``, so the lifecycle engine puts it in the instance's history
    (:mod:`atoll.hub.lcm.siteheals`); else nothing."""
    if not isinstance(body, dict) or body.get("op") != "action" or body.get("kind") != "server":
        return {}
    if body.get("action") not in LOCAL_HEALS or not ids.is_id(body.get("id")):
        return {}
    obj = await get_or_none(
        store, intent.SITE_OBJECT, intent.object_key(site["id"], "server", body["id"])
    )
    owner = obj.value.get(OWNER) if obj is not None else None
    return {OWNER: owner, "lcm_history": "pending"} if owner else {}


async def _decide(
    store: Store, site: JSON, seq: int, body: Any, now: str, objects: ObjectBudget | None
) -> Decision:
    if not isinstance(body, dict):
        raise InvalidInput("an operation record is a map")
    op, kind, object_id, base, desired = _parse(body)
    key = intent.object_key(site["id"], kind, object_id)
    record = await get_or_none(store, intent.SITE_OBJECT, key)
    current = record
    if current is not None and current.value.get("desired") is None:
        current = None  # a tombstone: the hub has no intent for it
    if op == "delete" and current is None:
        # nothing to delete, whatever project the site says it was in
        return Decision("adopted", [])
    desired = await _in_scope(store, site, record, desired)
    if base is None and current is not None and _adopted_as_is(current):
        base = current.revision  # the site changes what it made before it saw the hub's copy
    if op == "action" and kind == alarms.KIND:  # a site-scope alarm changed state
        return Decision("recorded", await alarms.site_change(store, site, seq, body))
    if op == "action" and desired is None:
        return Decision("recorded", [])
    if op == "create" and record is None and desired is not None:
        if objects is not None:
            await objects.claim(store, site, kind, object_id)
        adopted = intent.new_object(site, _as(desired, "site"))
        return Decision("adopted", [Put(intent.SITE_OBJECT, key, adopted, expect_revision=0)], 1)
    if op in ("update", "action", "create") and current is not None and desired is not None:
        if _same_spec(current, desired):
            return Decision("adopted", [])
        if _unchanged_since(current, base):
            value = {**current.value, "desired": _wire(desired, current.value["origin"]),
                     "override": False}  # fmt: skip
            return Decision("adopted", [Put(intent.SITE_OBJECT, key, value, current.revision)])
    if op == "delete" and current is not None and _unchanged_since(current, base):
        made = -1 if current.value.get("origin") == "site" else 0
        return Decision("adopted", [Delete(intent.SITE_OBJECT, key, current.revision)], made)
    held = None  # an open conflict on the object (marked on it if the hub has the object)
    if current is None:
        held = await _open_conflict(store, site["id"], kind, object_id)
        if held is None and objects is not None:
            await objects.claim(store, site, kind, object_id)
    elif current.value.get("conflict"):
        held = await get_or_none(store, intent.CONFLICT, current.value["conflict"])
    writes = await _conflict(store, site, seq, op, kind, object_id, base, desired, current,
                             held, now)  # fmt: skip
    return Decision("conflict", writes, 1 if current is None and held is None else 0)


async def _open_conflict(store: Store, site_id: str, kind: str, object_id: str) -> Record | None:
    """The open conflict an earlier operation of the site opened on an object the hub does
    not have (nothing marks it: there is no object to mark)."""
    wanted = {"site_id": site_id, "object_id": object_id, "state": "open"}
    found = await list_all(store, intent.CONFLICT, wanted)
    return next((r for r in found if r.value.get("kind") == kind), None)


async def _in_scope(
    store: Store, site: JSON, record: Record | None, desired: Desired | None
) -> Desired | None:
    """``desired`` in the project it has at the hub; Forbidden if the site names a project
    it may not act for (see the module docstring).

    ``record`` is the hub's record of the object at this site (a tombstone too): the object
    keeps its project whatever the site says (a site that stored none says none; the hub
    fills it in). An object the hub does not have may be in the site's own scope (no
    project) or in a project with something placed at this site by the hub."""
    if desired is None:
        return None
    what, claimed = f"{desired.kind} {desired.meta.id}", desired.meta.project_id
    if record is not None:
        project = record.value.get("project_id")
        if claimed is not None and claimed != project:
            owner = f"project {project}" if project else "the site's own scope"
            raise Forbidden(
                f"{what} is in {owner} at the hub; a site cannot move it to project {claimed}"
            )
        meta = dataclasses.replace(desired.meta, project_id=project)
        return dataclasses.replace(desired, meta=meta)
    if claimed is None or await intent.placed_for(store, site["id"], claimed):
        return desired
    raise Forbidden(
        f"{what} names project {claimed}, which has nothing placed at site {site['name']}: "
        "a site acts only for its own scope and the projects placed at it"
    )


def _unchanged_since(current: Record, base: int | None) -> bool:
    """The hub's intent is still what the site based its change on, and not held."""
    return current.revision == base and not current.value.get("conflict")


def _adopted_as_is(record: Record) -> bool:
    """A site-made object the hub adopted and has not changed since."""
    return bool(record.value.get("origin") == "site" and record.revision == record.created_revision)


def _as(desired: Desired, origin: Literal["hub", "site"]) -> Desired:
    return dataclasses.replace(desired, origin=origin, hub_revision=None)


def _wire(desired: Desired, origin: str) -> JSON:
    wire = desired.to_wire()
    wire.pop("hub_revision", None)
    wire["origin"] = origin
    return wire


async def _conflict(
    store: Store, site: JSON, seq: int, op: str, kind: str, object_id: str,
    base: int | None, desired: Desired | None, current: Record | None,
    previous: Record | None, now: str,
) -> list[Write]:  # fmt: skip
    """Writes opening (or, for an object already held in ``previous``, updating) a
    conflict."""
    # a delete's record carries the object as it was: the site's side of it is "deleted"
    site_side = None if desired is None or op == "delete" else _wire(desired, "site")
    if previous is not None and previous.value.get("state") == "open":
        value = {**previous.value, "op": op, "base_hub_revision": base, "site_desired": site_side,
                 "operation_seq": seq, "updated_at": now}  # fmt: skip
        return [Put(intent.CONFLICT, previous.key, value, previous.revision)]
    conflict_id = ids.hub_id()
    project = desired.meta.project_id if desired is not None else None
    name = desired.meta.name if desired is not None else None
    if current is not None:
        project, name = current.value.get("project_id"), current.value.get("name")
    value = {
        "id": conflict_id,
        "site_id": site["id"],
        "site": site["name"],
        "kind": kind,
        "object_id": object_id,
        "name": name,
        "project_id": project,
        "op": op,
        "base_hub_revision": base,
        "hub_revision": current.revision if current is not None else None,
        "site_desired": site_side,
        "hub_desired": intent.desired_wire(current) if current is not None else None,
        "operation_seq": seq,
        "state": "open",
        "resolution": None,
        "created_at": now,
    }
    writes: list[Write] = [Put(intent.CONFLICT, conflict_id, value, expect_revision=0)]
    if current is not None:
        marked = {**current.value, "conflict": conflict_id}
        writes.append(Put(intent.SITE_OBJECT, current.key, marked, current.revision))
    return writes


async def resolve(store: Store, conflict: Record, keep: Keep, actor: str, now: str) -> JSON:
    """Close an open conflict keeping one side (see the module docstring)."""
    value = conflict.value
    if value.get("state") != "open":
        raise Conflict(f"conflict {value['id']} is {value.get('state')}, not open")
    site = {"id": value["site_id"], "name": value["site"]}
    key = intent.object_key(value["site_id"], value["kind"], value["object_id"])
    current = await get_or_none(store, intent.SITE_OBJECT, key)
    expect = current.revision if current is not None else 0
    writes: list[Write] = []
    remove_after = False
    if keep == "hub":
        if current is not None and current.value.get("desired") is not None:
            writes.append(Put(intent.SITE_OBJECT, key, {**current.value, "conflict": None,
                                                       "override": True}, expect))  # fmt: skip
        else:  # the hub deleted it: force the delete at the site, then forget it
            base = current.value if current is not None else _stub(site, value)
            writes.append(Put(intent.SITE_OBJECT, key, intent.tombstone(base), expect))
            remove_after = True
    elif value.get("site_desired") is not None:
        desired = Desired.from_wire(value["site_desired"])
        origin = current.value["origin"] if current is not None else "site"
        kept = intent.new_object(site, _as(desired, "site"))
        kept["origin"] = kept["desired"]["origin"] = origin
        writes.append(Put(intent.SITE_OBJECT, key, kept, expect))
    elif current is not None:  # the site deleted it: so does the hub
        writes.append(Delete(intent.SITE_OBJECT, key, expect))
    resolved = {**value, "state": "resolved", "resolution": {"keep": keep, "by": actor, "at": now}}
    writes.append(Put(intent.CONFLICT, conflict.key, resolved, conflict.revision))
    try:
        await store.commit(writes)
    except StaleRevision as exc:
        raise Conflict(f"conflict {value['id']} changed meanwhile; read it again") from exc
    if remove_after:
        with contextlib.suppress(NotFound):
            await store.delete(intent.SITE_OBJECT, key)
    return resolved


def _stub(site: JSON, conflict: JSON) -> JSON:
    return {
        "id": conflict["object_id"], "site_id": site["id"], "site": site["name"],
        "kind": conflict["kind"], "name": conflict.get("name"),
        "project_id": conflict.get("project_id"), "origin": "hub",
    }  # fmt: skip
