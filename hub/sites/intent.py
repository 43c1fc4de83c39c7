"""Per-site intent in the store: what the hub wants each site to run, and what sites report.

Store kinds (every key starts with the site's immutable id, so one site's objects are one
key range)::

    site_object     <site id>/<kind>/<object id>   intent: an atoll.resources.Desired (kind
                                                    alarm: a site-scope alarm rule)
    site_status     <site id>/<kind>/<object id>   the newest Observed the site reported
    site_event      <site id>/<seq, 20 digits>      an event fact, once per (site, seq)
    site_operation  <site id>/<seq, 20 digits>      a site-authored operation record
    conflict        <conflict id>                   a site change the hub could not adopt

A ``site_object`` value holds ``desired`` (the :class:`~atoll.resources.Desired` wire form
without ``hub_revision``: the store revision of the record *is* its hub revision, filled in
by :func:`desired_wire`), and beside it the fields lists filter on (``site_id``, ``kind``,
``id``, ``name``, ``project_id``, ``origin``), ``override`` (the NOC chose this over the
site's own change: the site applies it over a local change) and ``conflict`` (the id of an
open conflict: the hub holds this intent, it is not sent, until someone resolves it).
A ``tombstone`` value (``desired`` null) is a delete the NOC forced with ``--keep hub``; the
sync side sends it as a delete with ``override``.
"""

from __future__ import annotations

import re
from typing import Any

from atoll.hub.catalog.flavors import Flavor
from atoll.hub.catalog.images import Image
from atoll.hub.store.base import ListQuery, Record, Store
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.resources import Desired, FlavorExtras, FlavorSpec, Meta
from atoll.resources.model import NAME

SITE_OBJECT = "site_object"
SITE_STATUS = "site_status"
SITE_EVENT = "site_event"
SITE_OPERATION = "site_operation"
CONFLICT = "conflict"
PLACEABLE = ("server", "network", "subnet", "volume")  # what /v1/sites/{site}/... places
FOR_PROJECT = (*PLACEABLE, "alarm")  # what the hub places at a site for a project (not the
# flavors and images it places with them: theirs is the catalog entry's owner, whoever uses it)


def object_key(site_id: str, kind: str, object_id: str) -> str:
    return f"{site_id}/{kind}/{object_id}"


def fact_key(site_id: str, seq: int) -> str:
    return f"{site_id}/{seq:020d}"


def site_of_key(key: str) -> str:
    return key.partition("/")[0]


def site_prefix(site_id: str, kind: str | None = None) -> str:
    """What the key of every object placed at ``site_id`` (of ``kind``) starts with, and no
    other's: a store lists them as a range of keys."""
    return f"{site_id}/" if kind is None else object_key(site_id, kind, "")


async def placed_at(store: Store, site_id: str) -> list[Record]:
    """Every object placed at ``site_id`` (tombstones and held ones too), read as a range of
    keys."""
    return await list_all(store, SITE_OBJECT, {"site_id": site_id}, key_prefix=site_prefix(site_id))


async def placed_for(store: Store, site_id: str, project_id: str) -> bool:
    """Whether the hub placed anything of project ``project_id`` at ``site_id`` itself
    (origin ``hub``, one of :data:`FOR_PROJECT`): the projects a site has business with."""
    for kind in FOR_PROJECT:
        filters = {"project_id": project_id, "origin": "hub"}
        query = ListQuery(SITE_OBJECT, filters, limit=1, key_prefix=site_prefix(site_id, kind))
        if (await store.list(query)).items:
            return True
    return False


def new_object(site: JSON, desired: Desired, *, override: bool = False) -> JSON:
    """The stored value of ``desired`` placed at ``site`` (its record's value)."""
    wire = desired.to_wire()
    wire.pop("hub_revision", None)
    return {
        "id": desired.meta.id,
        "site_id": site["id"],
        "site": site["name"],
        "kind": desired.kind,
        "name": desired.meta.name,
        "project_id": desired.meta.project_id,
        "origin": desired.origin,
        "desired": wire,
        "override": override,
        "conflict": None,
    }


def tombstone(value: JSON) -> JSON:
    return {**value, "desired": None, "override": True, "conflict": None}


def desired_wire(record: Record) -> JSON | None:
    """The Desired on the wire, its ``hub_revision`` the record's revision (None: tombstone)."""
    desired = record.value.get("desired")
    if desired is None:
        return None
    return {**desired, "hub_revision": record.revision}


def status_view(status: Record | None) -> JSON | None:
    if status is None:
        return None
    value = status.value
    return {
        "state": value.get("state"),
        "message": value.get("message", ""),
        "seq": value.get("seq"),
        "observed_generation": value.get("observed_generation", 0),
        "facts": value.get("facts"),
    }


def view(record: Record, status: Record | None) -> JSON:
    """What the API answers for one object (see :mod:`atoll.hub.api.site_objects`)."""
    value = record.value
    desired = value.get("desired") or {}
    return {
        "id": value["id"],
        "name": value.get("name"),
        "project_id": value.get("project_id"),
        "site": value["site"],
        "kind": value["kind"],
        "origin": value["origin"],
        "hub_revision": record.revision,
        "spec": desired.get("spec", {}),
        "status": status_view(status),
        "conflict": value.get("conflict"),
    }


def meta_name(name: Any) -> str | None:
    """A hub catalog name as an object name at a site, if the site's rules allow it."""
    return name if isinstance(name, str) and re.fullmatch(NAME, name) else None


def flavor_desired(flavor: Flavor) -> Desired:
    """A hub flavor as the ``flavor`` object a site needs for servers of that size."""
    spec = FlavorSpec(
        vcpus=flavor.vcpus,
        ram_mb=flavor.ram_mb,
        disk_gb=flavor.disk_gb,
        extra_specs=FlavorExtras.from_wire(flavor.extra_specs.to_wire()),
    )
    meta = Meta(id=flavor.id, name=meta_name(flavor.name), project_id=flavor.project_id)
    return Desired(kind="flavor", meta=meta, spec=spec, origin="hub")


def image_desired(image: Image) -> Desired:
    """A hub catalog image as the ``image`` reference a site pulls and checks."""
    meta = Meta(id=image.id, name=meta_name(image.name), project_id=image.project_id)
    return Desired(kind="image", meta=meta, spec=image.ref(), origin="hub")
