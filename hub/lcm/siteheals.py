"""Local heals by sites, in the owning VNF instance's history.

A site that finds a VNFC's server stopped (a restart by policy) or its domain gone (a
recreate) heals it itself, connected or not, and says so with a site-authored operation
record (``action`` ``restart``/``recreate`` by actor ``reconciler``). The hub's sync side
marks such a record of a server an instance owns ``lcm_history: pending``
(:mod:`atoll.hub.sync.operations`); each engine pass (:func:`adopt`) turns every pending one
into an op occurrence of that instance, in one commit with the record's mark:

* ``operation`` ``HEAL``, ``operationState`` ``COMPLETED`` (it is over when the hub hears of
  it), ``isAutomaticInvocation`` true (SOL003: a heal the VNFM did not get a request for);
* ``operationParams``: the HealVnfRequest it amounts to, ``vnfcInstanceId`` the VNFC,
  ``cause`` what the site said, ``additionalParams`` ``{"source": "site", "site",
  "siteOperationSeq", "action", "at"}`` (the marker that the site did it);
* ``resourceChanges.affectedVnfcs``: the VNFC, ``MODIFIED``; ``sites``: the site, ``done``.

It takes no lock (it never runs: it is recorded COMPLETED), so an operation in flight on the
instance is not disturbed. Its id is derived from the site and the record's seq: a record
adopted twice (two hub processes) is one op occurrence. Subscribers hear of it as of any
operation entering COMPLETED (a VnfLcmOperationOccurrenceNotification, here with
``isAutomaticInvocation`` true): the notification is recorded in the same commit
(:func:`.outbox.recording`), so it is sent once, and never lost to a hub stopping between.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from atoll import ids
from atoll.errors import InvalidInput, NotFound, StaleRevision
from atoll.hub.lcm import outbox, records
from atoll.hub.sites import intent
from atoll.hub.store.base import Put, Store, Write
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.nfv.lcm.instance import VnfLcmOpOcc
from atoll.timestamps import iso

log = logging.getLogger(__name__)
CAUSES = {
    "restart": "the VNFC's VM stopped; the site restarted it",
    "recreate": "the VNFC's VM was gone; the site recreated it",
}


async def adopt(store: Store) -> int:
    """Every pending local heal into its instance's history; how many were."""
    done = 0
    for record in await list_all(store, intent.SITE_OPERATION, {"lcm_history": "pending"}):
        value = record.value
        instance_id = str(value.get(records.OWNER_FIELD))
        try:
            instance = (await store.get(records.INSTANCE, instance_id)).value
        except NotFound:
            instance = None
        occ_id = ids.derived_hub_id(str(value["site_id"]), str(value["seq"]), "site-heal")
        writes: list[Write] = []
        if instance is not None:
            occ = _occ(occ_id, instance, value)
            note = outbox.Notification.of_op(
                instance["project_id"], records.instance_of(instance), records.occ_of(occ)
            )
            writes += [Put(records.OP_OCC, occ_id, occ, expect_revision=0), outbox.recording(note)]
        marked = {**value, "lcm_history": occ_id if instance is not None else "no_instance"}
        writes.append(Put(intent.SITE_OPERATION, record.key, marked, record.revision))
        with contextlib.suppress(StaleRevision):  # another hub process adopted it
            await store.commit(writes)
            done += 1
    return done


def _occ(occ_id: str, instance: JSON, op: JSON) -> JSON:
    body: JSON = op["operation"]
    server_id, site_id, site = str(body["id"]), str(op["site_id"]), str(op["site"])
    at = iso(float(body.get("at") or time.time()))
    vnfc = _vnfc(instance, site_id, server_id)
    action = str(body.get("action"))
    cause = CAUSES.get(action, action)
    wire: dict[str, Any] = {
        "id": occ_id,
        "operationState": "COMPLETED",
        "stateEnteredTime": at,
        "startTime": at,
        "vnfInstanceId": instance["id"],
        "operation": "HEAL",
        "isAutomaticInvocation": True,
        "operationParams": {
            "vnfcInstanceId": [vnfc["id"]] if vnfc else [],
            "cause": cause,
            "additionalParams": {
                "source": "site",
                "site": site,
                "siteId": site_id,
                "siteOperationSeq": op["seq"],
                "action": action,
                "serverId": server_id,
                "at": at,
            },
        },
        "isCancelPending": False,
    }
    if vnfc:
        affected = {"id": vnfc["id"], "vduId": vnfc.get("vduId"), "changeType": "MODIFIED",
                    "computeResource": vnfc.get("computeResource")}  # fmt: skip
        wire["resourceChanges"] = {"affectedVnfcs": [affected]}
    try:
        occ = VnfLcmOpOcc.from_wire(wire, where="site heal")
    except InvalidInput:
        wire.pop("resourceChanges", None)
        occ = VnfLcmOpOcc.from_wire(wire, where="site heal")
    work = {"sites": {site_id: {"site": site, "state": "done", "message": cause}}}
    base = {"id": occ_id, "project_id": instance["project_id"],
            "vnf_instance_id": instance["id"], "work": work, "source": "site"}  # fmt: skip
    return records.occ_value(base, occ)


def _vnfc(instance: JSON, site_id: str, server_id: str) -> JSON | None:
    info = (instance.get("instance") or {}).get("instantiatedVnfInfo") or {}
    for vnfc in info.get("vnfcResourceInfo") or ():
        handle = vnfc.get("computeResource") or {}
        if handle.get("resourceId") == server_id and handle.get("vimConnectionId") in (
            site_id,
            None,
        ):
            return dict(vnfc)
    return None
