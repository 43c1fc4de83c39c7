"""Alarms and their history in the hub store.

Store kinds::

    alarm          <alarm id>                          the rule, its state and its actions
    alarm_history  <alarm id>/<ms, 15 digits>-<source>  one entry: created, a state change,
                                                       acknowledged, silenced

An alarm's value is what ``/v1/alarms`` answers (:func:`view`) plus ``changes`` (state
changes so far) and ``notified`` (the count whose webhooks were last sent, and
``notified_state``), so every state change is announced once, by whichever hub process gets
there first. An alarm with scope ``site`` is also placed at
its site as a ``site_object`` of kind ``alarm`` (its :class:`~atoll.resources.alarm.ThresholdRule`
as the spec), which sync sends down like any intent; the site evaluates it and its state
changes come back as operation records (:func:`site_change`), kept as history entries whose
key carries the site's fact seq: a record delivered twice is written once.

State changes only are writes: an evaluation that finds the same state changes nothing, so
alarms add no revisions while the fleet is quiet.
"""

from __future__ import annotations

import contextlib
from typing import Any

from atoll import ids
from atoll.alarm_evaluation import STATES, Verdict
from atoll.errors import NotFound, StaleRevision
from atoll.hub.sites import intent
from atoll.hub.store.base import Delete, Put, Record, Store, Write
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.resources import Desired, Meta
from atoll.resources.alarm import ThresholdRule
from atoll.timestamps import iso

KIND = "alarm"
HISTORY = "alarm_history"
SEVERITIES = ("low", "moderate", "critical")
HIDDEN = ("changes", "notified", "notified_state", "site_id")


def history_key(alarm_id: str, at: float, source: str) -> str:
    return f"{alarm_id}/{int(at * 1000):015d}-{source}"


def view(value: JSON) -> JSON:
    """What the API shows of a stored alarm."""
    return {k: v for k, v in value.items() if k not in HIDDEN}


def entry(
    alarm: JSON, type_: str, at: float, *, previous: str | None = None,
    reason: str = "", source: str = "hub", by: str | None = None,
) -> JSON:  # fmt: skip
    return {
        "alarm_id": alarm["id"],
        "project_id": alarm.get("project_id"),
        "type": type_,
        "previous": previous,
        "state": alarm["state"],
        "reason": reason,
        "timestamp": iso(at),
        "source": source,
        "by": by,
    }


def placed(alarm: JSON, site: JSON) -> Put:
    """The site object that sends a site-scope alarm's rule down to its site."""
    rule = ThresholdRule.from_wire(alarm["rule"])
    desired = Desired(
        kind="alarm",
        meta=Meta(id=alarm["id"], name=None, project_id=alarm.get("project_id")),
        spec=rule,
        origin="hub",
    )
    value = intent.new_object(site, desired)
    value["name"] = alarm["name"]
    return Put(intent.SITE_OBJECT, intent.object_key(site["id"], "alarm", alarm["id"]), value)


async def change_state(
    store: Store, record: Record, verdict: Verdict, at: float, source: str = "hub"
) -> JSON | None:
    """Move an alarm to ``verdict`` (with a history entry), unless it is there already or it
    changed meanwhile; the new value, or None."""
    value = record.value
    if value["state"] == verdict.state:
        return None
    changed = moved(value, verdict, at)
    history = entry(changed, "state transition", at, previous=value["state"],
                    reason=verdict.reason, source=source)  # fmt: skip
    key = history_key(value["id"], at, f"{source}{ids.hub_id()[:8]}")
    try:
        await store.commit(
            [Put(KIND, record.key, changed, record.revision), Put(HISTORY, key, history, 0)]
        )
    except (StaleRevision, NotFound):
        return None  # another hub process evaluated it, or it is gone
    return changed


def moved(value: JSON, verdict: Verdict, at: float) -> JSON:
    changed = {**value, "state": verdict.state, "state_reason": verdict.reason,
               "state_timestamp": iso(at), "changes": int(value.get("changes", 0)) + 1}  # fmt: skip
    if verdict.state == "alarm":
        changed["acknowledged"] = False  # a new alarm wants a new acknowledgement
    return changed


async def site_change(store: Store, site: JSON, seq: int, body: Any) -> list[Write]:
    """The writes recording a site-scope alarm's state change (an operation record
    ``{"op": "action", "action": "alarm_state", "kind": "alarm", "id", "state", "previous",
    "reason", "at"}`` from ``site``): a history entry keyed by the site's seq, and the alarm's
    state when this change is newer than the one it shows. Nothing for an alarm that is gone
    or is not this site's."""
    if not isinstance(body, dict) or body.get("action") != "alarm_state":
        return []
    state, at = body.get("state"), body.get("at")
    if state not in STATES or isinstance(at, bool) or not isinstance(at, (int, float)):
        return []
    if not 0 <= at <= 1e11:  # not a time (NaN, infinite, 3000 years away): no history
        return []
    alarm_id = str(body.get("id"))
    try:
        record = await store.get(KIND, alarm_id)
    except NotFound:
        return []
    value = record.value
    if value.get("site_id") != site["id"] or value.get("scope") != "site":
        return []
    reason = str(body.get("reason") or "")[:1024]
    previous = body.get("previous") if body.get("previous") in STATES else None
    verdict = Verdict(state, reason)
    writes: list[Write] = []
    newer = value.get("state_timestamp") is None or iso(at) >= value["state_timestamp"]
    current = value
    if newer and (value["state"] != state or value.get("state_reason") != reason):
        current = moved(value, verdict, at)
        writes.append(Put(KIND, record.key, current, record.revision))
    history = entry({**current, "state": state}, "state transition", at, previous=previous,
                    reason=reason, source="site")  # fmt: skip
    history["site"] = site["name"]
    history["seq"] = seq
    writes.append(Put(HISTORY, history_key(alarm_id, at, f"site{seq:020d}"), history, 0))
    return writes


async def remove(store: Store, record: Record) -> None:
    """Delete an alarm, its rule at its site (scope ``site``) and its history."""
    value = record.value
    writes: list[Write] = [Delete(KIND, record.key, record.revision)]
    if value.get("scope") == "site" and value.get("site_id"):
        key = intent.object_key(value["site_id"], "alarm", value["id"])
        with contextlib.suppress(NotFound):
            await store.get(intent.SITE_OBJECT, key)
            writes.append(Delete(intent.SITE_OBJECT, key))
    await store.commit(writes)
    for entry in await list_all(store, HISTORY, {"alarm_id": value["id"]}):
        with contextlib.suppress(NotFound):
            await store.delete(HISTORY, entry.key)


async def forget_project(store: Store, project_id: str) -> None:
    """A deleted project's alarms go with it (no more webhooks for it)."""
    for record in await list_all(store, KIND, {"project_id": project_id}):
        with contextlib.suppress(NotFound, StaleRevision):
            await remove(store, record)
