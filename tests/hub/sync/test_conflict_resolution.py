"""Resolving a conflict a site's delete opened (:func:`atoll.hub.sync.operations.resolve`).

A site's delete record carries the object as it was (``desired``). Taken as the site's
version, it made ``--keep site`` put back the object the site had deleted, and a held
conflict's snapshot send it to the site again while the conflict was open.
"""

from __future__ import annotations

from atoll import ids
from atoll.errors import NotFound
from atoll.hub.sites import intent
from atoll.hub.store.base import ListQuery
from atoll.hub.store.memory import MemoryStore
from atoll.hub.sync import operations
from atoll.jsonbody import JSON
from atoll.resources import Desired, Meta, NetworkSpec

NOW = "2030-01-01T00:00:00Z"


async def _deleted_at_the_site_while_the_hub_changed_it() -> tuple[MemoryStore, str, JSON]:
    store = MemoryStore()
    site = {"id": ids.hub_id(), "name": "edge-1"}
    desired = Desired(kind="network", meta=Meta(id=ids.hub_id(), name="n", project_id=None),
                      spec=NetworkSpec(), origin="hub")  # fmt: skip
    key = intent.object_key(site["id"], "network", desired.meta.id)
    base = (await store.put(intent.SITE_OBJECT, key, intent.new_object(site, desired))).revision
    changed = (await store.get(intent.SITE_OBJECT, key)).value
    changed["desired"]["spec"]["mtu"] = 1600
    await store.put(intent.SITE_OBJECT, key, changed)  # the hub changed it meanwhile
    record = {"op": "delete", "kind": "network", "id": desired.meta.id, "base_hub_revision": base,
              "desired": desired.to_wire(), "at": 1.0, "actor": "fe"}  # fmt: skip
    assert await operations.record_operation(store, site, 1, record, NOW) == "conflict"
    (conflict,) = (await store.list(ListQuery(intent.CONFLICT))).items
    return store, key, conflict.value


async def test_a_site_delete_is_the_site_side_deleted() -> None:
    _, _, conflict = await _deleted_at_the_site_while_the_hub_changed_it()
    assert conflict["op"] == "delete" and conflict["site_desired"] is None
    assert conflict["hub_desired"]["spec"]["mtu"] == 1600


async def test_keeping_the_sites_delete_deletes_it_at_the_hub() -> None:
    store, key, conflict = await _deleted_at_the_site_while_the_hub_changed_it()
    record = await store.get(intent.CONFLICT, conflict["id"])
    resolved = await operations.resolve(store, record, "site", "admin", NOW)
    assert resolved["state"] == "resolved"
    try:
        kept = await store.get(intent.SITE_OBJECT, key)
    except NotFound:
        return
    raise AssertionError(f"the site deleted it, yet the hub keeps {kept.value}")


async def test_a_site_creating_what_the_hub_is_deleting_opens_a_conflict() -> None:
    """The hub deleted the object (its tombstone is on its way to the site) and the site
    sends a create of it: a conflict for a person to decide. Before, the create was adopted
    over the tombstone's key, lost the race every time, and raised after ten tries."""
    store = MemoryStore()
    site = {"id": ids.hub_id(), "name": "edge-1"}
    desired = Desired(kind="network", meta=Meta(id=ids.hub_id(), name="n", project_id=None),
                      spec=NetworkSpec(), origin="hub")  # fmt: skip
    key = intent.object_key(site["id"], "network", desired.meta.id)
    await store.put(intent.SITE_OBJECT, key, intent.tombstone(intent.new_object(site, desired)))
    record = {"op": "create", "kind": "network", "id": desired.meta.id, "base_hub_revision": None,
              "desired": desired.to_wire(), "at": 1.0, "actor": "fe"}  # fmt: skip
    assert await operations.record_operation(store, site, 1, record, NOW) == "conflict"
    (conflict,) = (await store.list(ListQuery(intent.CONFLICT))).items
    assert conflict.value["op"] == "create" and conflict.value["site_desired"] is not None
    resolved = await operations.resolve(store, conflict, "site", "admin", NOW)
    assert resolved["state"] == "resolved"
    assert (await store.get(intent.SITE_OBJECT, key)).value["desired"] is not None
