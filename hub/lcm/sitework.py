"""One operation's work at one site: write the instance's intent there, then read the facts.

**Writing** (:func:`write_site`) makes the instance's ``site_object`` records at the site
equal to a target (one store commit): objects that differ are put, objects the target does
not name are deleted, and with the servers go the flavor objects of their VDUs and the
catalog images they boot from (images stay: other servers may use them). Writing again is
harmless: what already matches is left alone. It answers what to wait for: each object of
the target with the revision of its record, and each delete with the commit's revision.

**Reading** (:func:`check_site`) compares that with what came back over sync:

* a put is done when the site reported a status for the object *after* the write (the
  ``site_status`` record is newer than the ``site_object`` record) in a good state
  (``ACTIVE``; a volume ``AVAILABLE`` or ``IN-USE``; a server that is to be stopped
  ``SHUTOFF``); ``ERROR`` fails the site with the site's message;
* a delete is done when the site acknowledged the hub revision of the delete (the site
  record's ``sync.acked_revision``): it has it in its inbox and tears the object down;
  an ``ack`` wait (:func:`write_again`), when the site acknowledged that revision;
* while the site is offline (or has not joined), nothing moves: the site's entry says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from atoll.errors import NotFound
from atoll.hub.catalog import images as catalog_images
from atoll.hub.catalog.images import Image
from atoll.hub.lcm import records, targets
from atoll.hub.sites import intent
from atoll.hub.store.base import Delete, Put, Store, Write
from atoll.jsonbody import JSON
from atoll.resources import Desired, ServerSpec

GOOD = {"server": ("ACTIVE",), "volume": ("AVAILABLE", "IN-USE")}
Outcome = Literal["done", "waiting", "failed"]


@dataclass(frozen=True)
class Check:
    outcome: Outcome
    message: str = ""


def _value(site: JSON, d: Desired, instance_id: str) -> JSON:
    return {**intent.new_object(site, d), records.OWNER_FIELD: instance_id}


def _plain(value: JSON) -> JSON | None:
    return value.get("desired")


async def write_site(
    store: Store,
    site: JSON,
    instance_id: str,
    target: Iterable[Desired],
    flavors: Mapping[str, Desired],
) -> list[list[object]]:
    """Make the instance's objects at ``site`` the ``target`` (see the module docstring);
    returns ``[[kind, id, revision, "put"|"delete"], ...]`` to wait for."""
    site_id = site["id"]
    wanted = list(target)
    servers = [d.spec for d in wanted if isinstance(d.spec, ServerSpec)]
    wanted += [flavors[s.flavor] for s in servers if s.flavor in flavors]
    wanted = list({(d.kind, d.meta.id): d for d in wanted}.values())
    have = {
        (r.value["kind"], r.value["id"]): r
        for r in await records.placed_objects(store, instance_id)
        if r.value["site_id"] == site_id
    }
    writes: list[Write] = []
    for d in wanted:
        value = _value(site, d, instance_id)
        current = have.get((d.kind, d.meta.id))
        if current is not None and _plain(current.value) == _plain(value):
            continue
        key = intent.object_key(site_id, d.kind, d.meta.id)
        writes.append(Put(intent.SITE_OBJECT, key, value, current.revision if current else 0))
    names = {(d.kind, d.meta.id) for d in wanted}
    gone = [r for k, r in have.items() if k not in names]
    order = ("server", "volume", "subnet", "network", "flavor")
    gone.sort(key=lambda r: order.index(r.value["kind"]) if r.value["kind"] in order else 9)
    writes += [Delete(intent.SITE_OBJECT, r.key, r.revision) for r in gone]
    writes += await _images(store, site, targets.images_needed(wanted))
    revision = await store.commit(writes) if writes else 0
    out: list[list[object]] = []
    for d in wanted:
        record = await store.get(intent.SITE_OBJECT, intent.object_key(site_id, d.kind, d.meta.id))
        out.append([d.kind, d.meta.id, record.revision, "put"])
    deleted = max(revision, max((r.revision for r in gone), default=0))
    out += [[r.value["kind"], r.value["id"], deleted, "delete"] for r in gone]
    return out


async def write_again(
    store: Store,
    site: JSON,
    instance_id: str,
    target: Iterable[Desired],
    flavors: Mapping[str, Desired],
) -> list[list[object]]:
    """:func:`write_site` for a site whose write was recorded (the engine's intent) but not
    what it answered (the hub stopped, or the op occurrence changed, in between): writing
    again is harmless and names the puts to wait for; the deletes the first write made are no
    longer in the store to name, so it waits as well for the site to acknowledge every
    revision up to now (an ``ack``: the site is sent progress past others' writes too)."""
    waits = await write_site(store, site, instance_id, target, flavors)
    return [*waits, ["site", site["id"], await store.revision(), "ack"]]


async def _images(store: Store, site: JSON, image_ids: set[str]) -> list[Write]:
    out: list[Write] = []
    for image_id in sorted(image_ids):
        key = intent.object_key(site["id"], "image", image_id)
        try:
            await store.get(intent.SITE_OBJECT, key)
            continue
        except NotFound:
            pass
        try:
            image = Image.of(await store.get(catalog_images.KIND, image_id))
        except NotFound:
            continue  # the server's status will say the image is missing
        value = intent.new_object(site, intent.image_desired(image))
        out.append(Put(intent.SITE_OBJECT, key, value, 0))
    return out


async def check_site(store: Store, site: JSON | None, waits: list[list[object]]) -> Check:
    """How the site is doing with ``waits`` (from :func:`write_site`)."""
    if site is None:
        return Check("failed", "the site was removed from the hub")
    sync = site.get("sync") or {}
    acked = int(sync.get("acked_revision") or 0)
    pending = 0
    for kind, obj_id, revision, op in waits:
        assert isinstance(kind, str) and isinstance(obj_id, str) and isinstance(revision, int)
        if op in ("delete", "ack"):
            pending += acked < revision
            continue
        if kind in ("flavor", "image"):
            pending += acked < revision
            continue
        key = intent.object_key(site["id"], kind, obj_id)
        try:
            status = await store.get(intent.SITE_STATUS, key)
        except NotFound:
            pending += 1
            continue
        state = status.value.get("state", "")
        if status.revision < revision:
            pending += 1  # reported before this write
        elif state == "ERROR":
            message = status.value.get("message") or "no message"
            return Check("failed", f"{kind} {obj_id}: ERROR: {message}")
        elif state not in await _good(store, site, kind, obj_id):
            pending += 1
    if not pending:
        return Check("done")
    state = site.get("state")
    if state != "online":
        return Check("waiting", f"site {site['name']} is {state}: waiting for it ({pending} left)")
    return Check("waiting", f"waiting for {pending} object(s) at site {site['name']}")


async def _good(store: Store, site: JSON, kind: str, obj_id: str) -> tuple[str, ...]:
    if kind != "server":
        return GOOD.get(kind, ("ACTIVE",))
    record = await store.get(intent.SITE_OBJECT, intent.object_key(site["id"], kind, obj_id))
    spec = (record.value.get("desired") or {}).get("spec") or {}
    return ("SHUTOFF",) if spec.get("power") == "stopped" else ("ACTIVE",)
