"""VNF instances, op occurrences and the per-instance lock in the hub store.

Store kinds (keys are immutable ids)::

    vnf_instance     <instance id>   the VnfInstance, its project and how it was placed
    vnf_lcm_op_occ   <op id>         the VnfLcmOpOcc, and the engine's work for it
    vnf_lcm_lock     <instance id>   the instance's one non-terminal op occurrence

**One operation at a time** is the store's to enforce, not memory's: an op occurrence is
created in the same commit as its instance's lock (``expect_revision=0``), so of two
concurrent requests (two hub processes on one etcd store included) one commits and the
other gets a 409; the lock goes in the commit that takes the op occurrence to a terminal
state.

An instance value::

    {"id", "project_id", "project", "vnfPkgId", "vnfdId", "instantiationState",
     "instance": VnfInstance wire (no _links),
     "placement": PlacementRequest wire (how new VNFCs are placed, scale out included),
     "networks": [[cpd id, site id or null, site network]]  (from extVirtualLinks)}

An op occurrence value::

    {"id", "project_id", "vnf_instance_id", "active": true until terminal,
     "operationState", "operation", "occ": VnfLcmOpOcc wire (no _links),
     "work": the engine's plan and per-site progress; only "sites" once terminal}

Site objects the engine writes (``site_object``, :mod:`atoll.hub.sites.intent`) carry
``vnf_instance_id`` beside the usual fields, so an instance's intent is one filtered list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from atoll.errors import NotFound
from atoll.hub.sites import intent
from atoll.hub.store.base import Record, Store
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.nfv.lcm.instance import VnfInstance, VnfLcmOpOcc
from atoll.resources import Desired
from atoll.tokens import Claims

INSTANCE = "vnf_instance"
OP_OCC = "vnf_lcm_op_occ"
LOCK = "vnf_lcm_lock"
OWNER_FIELD = "vnf_instance_id"


def visible(claims: Claims, value: Mapping[str, Any]) -> bool:
    """System callers see every project's; project callers their own project's only."""
    return claims.system or (
        claims.project_id is not None and value.get("project_id") == claims.project_id
    )


async def instance_record(store: Store, instance_id: str, claims: Claims | None = None) -> Record:
    """The instance (NotFound too when ``claims`` may not see it)."""
    try:
        record = await store.get(INSTANCE, instance_id)
    except NotFound:
        record = None
    if record is None or (claims is not None and not visible(claims, record.value)):
        raise NotFound(f"VNF instance {instance_id} does not exist")
    return record


async def occ_record(store: Store, op_id: str, claims: Claims | None = None) -> Record:
    try:
        record = await store.get(OP_OCC, op_id)
    except NotFound:
        record = None
    if record is None or (claims is not None and not visible(claims, record.value)):
        raise NotFound(f"VNF LCM operation occurrence {op_id} does not exist")
    return record


def instance_of(value: JSON) -> VnfInstance:
    return VnfInstance.from_wire(value["instance"], where="vnf_instance")


def occ_of(value: JSON) -> VnfLcmOpOcc:
    return VnfLcmOpOcc.from_wire(value["occ"], where="vnf_lcm_op_occ")


def instance_value(base: JSON, instance: VnfInstance) -> JSON:
    """``base`` with ``instance`` written in (and the fields lists filter on)."""
    return {
        **base,
        "vnfdId": instance.vnfd_id,
        "instantiationState": instance.instantiation_state,
        "instance": instance.to_wire(),
    }


TERMINAL = ("COMPLETED", "FAILED", "ROLLED_BACK")


def occ_value(base: JSON, occ: VnfLcmOpOcc) -> JSON:
    """The stored op occurrence for ``occ``. Once terminal, its work keeps only ``sites``
    (what happened where, which the API shows): the plan, its steps and the intent before
    it serve retry and rollback, which a terminal occurrence no longer has, and they are
    four fifths of its bytes, read again by every list."""
    active = occ.operation_state not in TERMINAL
    value = {
        **base,
        "active": active,
        "operationState": occ.operation_state,
        "operation": occ.operation,
        "occ": occ.to_wire(),
    }
    if not active and "work" in base:
        value["work"] = {"sites": base["work"].get("sites", {})}
    return value


async def placed_objects(store: Store, instance_id: str) -> list[Record]:
    """Every site object the instance has (tombstones left out)."""
    return [
        r
        for r in await list_all(store, intent.SITE_OBJECT, {OWNER_FIELD: instance_id})
        if r.value.get("desired") is not None
    ]


async def current_intent(store: Store, instance_id: str) -> dict[str, tuple[Desired, ...]]:
    """The instance's intent as the store holds it now: site id -> its objects."""
    out: dict[str, list[Desired]] = {}
    for record in await placed_objects(store, instance_id):
        if record.value["kind"] not in intent.PLACEABLE:
            continue  # the flavors and images placed with servers
        desired = Desired.from_wire(record.value["desired"])
        out.setdefault(record.value["site_id"], []).append(desired)
    return {site: tuple(objs) for site, objs in out.items()}


def intent_wire(site_intent: Mapping[str, tuple[Desired, ...]]) -> JSON:
    return {site: [_plain(d) for d in objs] for site, objs in site_intent.items()}


def intent_from_wire(data: Mapping[str, Any]) -> dict[str, tuple[Desired, ...]]:
    return {site: tuple(Desired.from_wire(d) for d in objs) for site, objs in data.items()}


def _plain(d: Desired) -> JSON:
    wire = d.to_wire()
    wire.pop("hub_revision", None)
    return wire
