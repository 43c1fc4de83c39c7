"""Site-authored operation records: what the hub hears of each local change.

Every change made at the site (the local API's creates, deletes and actions; a restart by
the reconciler) is written with a record ``{"op", "kind", "id", "base_hub_revision",
"desired", "at", "actor"}`` (``sync/PROTOCOL.md``) into the outbox, in the same transaction
as the change itself (:class:`~.store.queues.Operation`). ``desired`` is the object as the
site now wants it, in the hub's terms (:func:`desired_wire_blocking`). :data:`ACTOR` names
who made the change: the local API's middleware sets it per request from the caller's token.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from atoll.errors import NotFound
from atoll.jsonbody import JSON
from atoll.site_agent.store import DesiredObject, LocalStore
from atoll.site_agent.store.queues import Operation

ACTOR: ContextVar[str] = ContextVar("atoll_site_actor", default="site")
"""Who makes the local changes of the current request (the API sets it per request)."""


def operation_body(
    op: str,
    kind: str,
    obj_id: str,
    base_hub_revision: int | None,
    desired: JSON | None,
    *,
    at: float,
    actor: str,
    action: str | None = None,
) -> JSON:
    """A site-authored operation record as PROTOCOL.md writes it (``action``: which one,
    for ``op="action"``)."""
    body: JSON = {
        "op": op,
        "kind": kind,
        "id": obj_id,
        "base_hub_revision": base_hub_revision,
        "desired": desired,
        "at": at,
        "actor": actor,
    }
    if action is not None:
        body["action"] = action
    return body


def record(
    store: LocalStore,
    op: str,
    kind: str,
    obj_id: str,
    base: int | None,
    desired: JSON | None,
    action: str | None = None,
) -> Operation:
    """The record of a local change by :data:`ACTOR` now, holding hub changes to the object."""
    body = operation_body(
        op, kind, obj_id, base, desired, at=store.clock(), actor=ACTOR.get(), action=action
    )
    return Operation(kind, obj_id, body)


def desired_wire_blocking(store: LocalStore, obj: DesiredObject, spec: JSON | None = None) -> JSON:
    """``obj`` (with ``spec`` if given) as a Desired's wire form, as the site authored it: a
    server's NICs read back from its ports (network, address, vNIC type) and its flavor by id,
    as the hub names them."""
    fields = dict(obj.spec if spec is None else spec)
    name = fields.pop("name", obj.name)
    if obj.kind == "server":
        nics = []
        for port_id in fields.get("ports", []):
            try:
                port = store.get_object("port", port_id).spec
            except NotFound:
                continue
            nics.append(
                {
                    "network": port["network"],
                    "fixed_ip": port.get("ip"),
                    "vnic_type": port.get("vnic_type", "normal"),
                }
            )
        fields["nics"] = nics
        with contextlib.suppress(NotFound):  # a flavor gone since: its name is all there is
            fields["flavor"] = store.find_object("flavor", str(fields.get("flavor", ""))).id
    meta = {"id": obj.id, "name": name, "project_id": obj.project_id}
    return {
        "kind": obj.kind,
        "meta": meta,
        "spec": fields,
        "origin": "site",
        "hub_revision": obj.hub_revision,
    }
