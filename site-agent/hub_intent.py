"""Intent from the hub, as the sync inbox hands it in: put, delete, and a snapshot's sweep.

:class:`HubIntent` is the hub's way into :class:`~.resources.Resources` (the local API's is
``Resources.apply`` and the ``create_*``/actions, which write operation records):

- a **put** of an object the site does not have creates it (no operation record: the hub
  has it), through the same checks and the same one transaction as a local create; images
  it names need not be here yet (the image puller fetches what desired servers name);
- a put with a **newer hub revision** of an object the site has updates what the reconciler
  can act on: the name; a server's power, restart policy, image and reboot/rebuild counters;
  a volume's size (larger only). Anything else (flavor, NICs, a network's segment, a
  subnet's range...) is **refused** with an event for the NOC, never half-made: delete it
  and place a new one. Labels are not kept at the site. The same spec with a newer revision
  only records the revision (an object the site made and the hub adopted comes back so);
  the site records the origin the hub's object carries (``site`` for an adopted one), so an
  adopted object stays a site object that the hub now knows;
- a put at or below the revision the site has is a redelivery: nothing happens;
- a put of a server (subnet) whose flavor, networks or volumes (network) the site does not
  have yet is ``waiting``: the hub writes a server before the flavor it places with it, so
  the inbox tries again after the next changes (and gives up with an event after a while);
- a **delete** deletes (refused with an event when the object is still in use here);
- **image** references are kept as they are (no name, no status, nothing built: anti-entropy
  compares them); the image puller fetches the images desired servers name, and a server
  waits (BUILDING) until its image is here; a hub
  **flavor** whose name a site flavor has already is kept without a name (hub servers name
  flavors by id);
- while a local change to an object waits for the hub's ack (an operation record that
  ``holds``), hub changes to it are **held** unless they carry ``override``;
- a put of an object the site made, offered to the hub and **deleted** (remembered:
  :mod:`.store.deleted`) does not make it again unless it carries ``override``: it is
  ``superseded`` (a hub restored from a backup still had it; the site sends its delete
  again, :mod:`.sync.history`);
- a snapshot's **sweep** deletes the objects the hub knows (hub origin, or a hub revision)
  that the snapshot did not name, except those a local change holds.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Literal

from atoll.errors import AtollError, TemporaryError
from atoll.jsonbody import JSON
from atoll.resources import Desired
from atoll.site_agent.operations import desired_wire_blocking
from atoll.site_agent.resources import Resources
from atoll.site_agent.store import DesiredObject
from atoll.sync.digest import key_of

log = logging.getLogger(__name__)

Outcome = Literal[
    "created",
    "updated",
    "recorded",
    "unchanged",
    "deleted",
    "held",
    "refused",
    "superseded",
    "waiting",
]
# what a newer hub revision may change of an object the site has (besides its name)
UPDATABLE: dict[str, frozenset[str]] = {
    "server": frozenset({"power", "reboots", "reboot_hard", "rebuilds", "restart_policy", "image"}),
    "volume": frozenset({"size_gb"}),
}
SITE_FILLED = frozenset({"ports", "vcpus", "ram_mb", "nics", "flavor", "name"})
HUB_KINDS = ("server", "volume", "subnet", "network", "flavor")  # a sweep deletes in this order
REFERENCES = ("image", "alarm")  # kept as they come; nothing is built from them (images:
# what servers name; alarms: site-scope rules, evaluated by atoll.site_agent.alarms)


@dataclass(frozen=True)
class HubOutcome:
    """What a hub change did at the site; ``message`` says why when held or refused."""

    outcome: Outcome
    message: str = ""


class HubIntent:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def apply(
        self, intent: Desired, *, override: bool = False, settle: bool = False
    ) -> HubOutcome:
        """The hub's put of ``intent`` (see the module docstring); what it did.

        A temporary failure raises (the inbox tries again later); a change the site cannot
        make is ``refused`` with the reason, never half-made. ``settle``: the change was
        held behind a local change the hub has acked since; it is applied only where it
        agrees with the site (else ``superseded``: the hub answers with a newer change).
        """
        kind, obj_id = intent.kind, intent.meta.id
        if kind in REFERENCES:
            return await self._reference(intent)
        if kind not in HUB_KINDS:
            return HubOutcome("refused", f"a {kind} is not placed at a site by the hub")
        if not override and await self.resources.store.call(
            self.resources.store.holding, kind, obj_id
        ):
            return HubOutcome("held", _HELD)
        current = await self.resources.store.call(self.resources._get_blocking, kind, obj_id)
        try:
            if current is None:
                if settle:  # the site deleted it meanwhile, and the hub has heard
                    return HubOutcome("superseded", _SUPERSEDED)
                not_now = await self.resources.store.call(self._not_now_blocking, intent, override)
                if not_now is not None:
                    return not_now
                await self.resources._create(await self._named(intent), local=False)
                return HubOutcome("created")
            return await self.resources.store.call(self._update_blocking, current, intent, settle)
        except TemporaryError:
            raise
        except AtollError as exc:
            return HubOutcome("refused", exc.message)
        finally:
            self.resources.kick()

    async def _reference(self, intent: Desired) -> HubOutcome:
        store, revision = self.resources.store, intent.hub_revision or 0
        current = await store.call(self.resources._get_blocking, intent.kind, intent.meta.id)
        if current is not None and (current.hub_revision or 0) >= revision:
            return HubOutcome("unchanged")
        spec = {"name": intent.meta.name, **intent.spec.to_wire()}
        await store.call(store.put_reference, intent.kind, intent.meta.id, spec, revision)
        return HubOutcome("recorded")

    def digest_items(self) -> list[tuple[str, int]]:
        """``(<kind>/<id>, hub revision)`` of what the hub placed here, for anti-entropy
        (blocking: on the store's thread)."""
        rows = self.resources.store.hub_known((*HUB_KINDS, *REFERENCES))
        return [(key_of(kind, obj_id), revision) for kind, obj_id, revision in rows]

    def _not_now_blocking(self, intent: Desired, override: bool) -> HubOutcome | None:
        """Why a hub put of an object the site does not have makes nothing now (None: it
        is made): the site deleted it and remembers (a restored hub's snapshot: the site's
        delete is on its way again), or it needs objects not here yet (placed by a later hub
        write: the hub writes a server first)."""
        if not override and self.resources.store.was_deleted(intent.kind, intent.meta.id):
            return HubOutcome("superseded", _DELETED_HERE)
        missing = self._missing_blocking(intent)
        if missing:
            return HubOutcome("waiting", f"needs {', '.join(missing)}, not here yet")
        return None

    def _missing_blocking(self, intent: Desired) -> list[str]:
        """What ``intent`` refers to that the site does not have (yet)."""
        wire, refs = intent.spec.to_wire(), []
        if intent.kind == "server":
            refs = [("flavor", wire["flavor"])]
            refs += [("network", nic["network"]) for nic in wire.get("nics", [])]
            refs += [("volume", vol) for vol in wire.get("volumes", [])]
        elif intent.kind == "subnet":
            refs = [("network", wire["network"])]
        find = self.resources._find_live_blocking
        return [f"{kind} {ref}" for kind, ref in refs if find(kind, ref) is None]

    async def _named(self, intent: Desired) -> Desired:
        """A hub flavor whose name a site flavor has (``tiny``...) comes without a name: the
        hub's servers name their flavor by id."""
        name = intent.meta.name
        if intent.kind != "flavor" or name is None:
            return intent
        taken = await self.resources.store.call(self.resources._find_live_blocking, "flavor", name)
        if taken is None:
            return intent
        return dataclasses.replace(intent, meta=dataclasses.replace(intent.meta, name=None))

    def _update_blocking(self, current: DesiredObject, intent: Desired, settle: bool) -> HubOutcome:
        revision = intent.hub_revision or 0
        if current.hub_revision is not None and revision <= current.hub_revision:
            return HubOutcome("unchanged")  # a redelivery, or older than what the site has
        if current.deleting:  # deleted here: the hub heard (settle) or will hear of it
            if settle:
                return HubOutcome("superseded", _SUPERSEDED)
            return HubOutcome("refused", f"{current.kind} {current.id} is being deleted here")
        wanted = intent.spec.to_wire()
        changed = self._differences_blocking(current, intent.meta.name, wanted)
        if settle and changed:
            return HubOutcome("superseded", _SUPERSEDED)
        refused = changed - UPDATABLE.get(current.kind, frozenset()) - {"name"}
        if refused:
            return HubOutcome(
                "refused",
                f"the site cannot change {', '.join(sorted(refused))} of {current.kind} "
                f"{current.id} in place (it can: name"
                f"{''.join(', ' + f for f in sorted(UPDATABLE.get(current.kind, ())))}); "
                "delete it and place a new one",
            )
        spec = dict(current.spec)
        for key in changed - {"name"}:
            spec[key] = wanted[key]
        if "size_gb" in changed and wanted["size_gb"] < current.spec["size_gb"]:
            return HubOutcome("refused", f"volume {current.id} cannot shrink")
        name = intent.meta.name if "name" in changed else current.name
        spec["name"] = name
        self.resources.store.update_from_hub(
            current.kind, current.id, name, spec, intent.origin, revision
        )
        return HubOutcome("updated" if changed else "recorded")

    def _differences_blocking(
        self, current: DesiredObject, name: str | None, wanted: JSON
    ) -> set[str]:
        """The spec keys (and ``name``) where the hub's object differs from the site's."""
        have = current.model.to_wire()
        out = {k for k, v in wanted.items() if k not in SITE_FILLED and have.get(k) != v}
        if name != current.name:
            out.add("name")
        if "flavor" in wanted:
            flavor = self.resources._find_live_blocking("flavor", wanted["flavor"])
            have_flavor = current.spec.get("flavor")
            if flavor is None or have_flavor not in (flavor.name, flavor.id):
                out.add("flavor")
        if current.kind == "server":
            nics = desired_wire_blocking(self.resources.store, current)["spec"]["nics"]
            asked = wanted.get("nics", [])
            if len(asked) != len(nics) or any(
                a["network"] != n["network"]
                or a.get("vnic_type", "normal") != n["vnic_type"]
                or a.get("fixed_ip") not in (None, n["fixed_ip"])
                for a, n in zip(asked, nics, strict=False)
            ):
                out.add("nics")
        return out

    async def delete(
        self, kind: str, obj_id: str, *, override: bool = False, settle: bool = False
    ) -> HubOutcome:
        """The hub's delete of an object (nothing to do when the site has none); ``settle``
        as for :meth:`apply`."""
        if not override and await self.resources.store.call(
            self.resources.store.holding, kind, obj_id
        ):
            return HubOutcome("held", _HELD)
        current = await self.resources.store.call(self.resources._get_blocking, kind, obj_id)
        if current is None or current.deleting:
            return HubOutcome("unchanged")
        if kind in REFERENCES:
            await self.resources.store.call(self.resources.store.purge_object, kind, obj_id)
            return HubOutcome("deleted")
        if settle:
            return HubOutcome("superseded", _SUPERSEDED)
        leaving = await self.resources.store.call(self._ports_leaving_blocking, kind, obj_id)
        if leaving:  # a terminate deletes the servers, then their subnets and networks
            return HubOutcome("waiting", f"ports {', '.join(leaving)} are being deleted here")
        try:
            await self.resources.store.call(
                self.resources._delete_blocking, kind, obj_id, local=False
            )
        except AtollError as exc:
            return HubOutcome("refused", exc.message)
        log.info("deleting %s %s (from hub)", kind, obj_id, extra={"kind": kind, "id": obj_id})
        self.resources.kick()
        return HubOutcome("deleted")

    def _ports_leaving_blocking(self, kind: str, obj_id: str) -> list[str]:
        """The ports in the way of deleting a network or subnet when each of them is going
        already (its server is being deleted here): the delete waits for them. None when
        nothing is in the way or something stays (then the delete is refused, naming it)."""
        store = self.resources.store
        ports = {p.id: p for p in store.list_objects("port")}
        if kind == "network":
            users = [p for p in ports.values() if p.spec["network"] == obj_id]
        elif kind == "subnet":  # a lease outlives its port until the reconciler frees it
            held = set(store.leases(obj_id).values())
            users = [p for pid in held if (p := ports.get(pid)) is not None]
            if held and not users:
                return sorted(held)
        else:
            return []
        return sorted(p.id for p in users) if users and all(p.deleting for p in users) else []

    async def sweep(self, named: set[tuple[str, str]]) -> list[tuple[str, str]]:
        """After a snapshot: delete the objects the hub knows (hub origin, or a hub revision)
        that it did not name, except those a local change holds; what was deleted."""
        gone = await self.resources.store.call(self._sweep_blocking, named)
        if gone:
            self.resources.kick()
        return gone

    def _sweep_blocking(self, named: set[tuple[str, str]]) -> list[tuple[str, str]]:
        store = self.resources.store
        held = store.held_objects()
        gone: list[tuple[str, str]] = []
        keys: list[tuple[str, str]] = []
        for kind in HUB_KINDS:  # servers first: what they used is free once they go
            for obj in store.list_objects(kind, include_deleting=False):
                key = (kind, obj.id)
                known = obj.origin == "hub" or obj.hub_revision is not None
                if not known or key in named or key in held or self._in_use(obj, gone):
                    continue
                gone.append(key)
                keys.append(key)
                if kind == "server":
                    keys += [("port", p) for p in obj.spec.get("ports", [])]
        for kind in REFERENCES:  # nothing to tear down: they go at once
            for obj in store.list_objects(kind):
                if obj.hub_revision is not None and (kind, obj.id) not in named:
                    store.purge_object(kind, obj.id)
                    gone.append((kind, obj.id))
        store.mark_all_deleting(keys)
        return gone

    def _in_use(self, obj: DesiredObject, going: list[tuple[str, str]]) -> bool:
        """Whether an object the snapshot dropped is still used by one the site keeps (a
        site server on the hub's old network): it stays, and its users say why."""
        store, leaving = self.resources.store, {k[1] for k in going}
        if obj.kind == "volume":
            return bool(obj.spec.get("server")) and obj.spec["server"] not in leaving
        if obj.kind not in ("network", "subnet"):
            return False
        field = "network" if obj.kind == "network" else "subnet"
        return any(
            p.spec.get(field) == obj.id and p.spec.get("server") not in leaving
            for p in store.list_objects("port", include_deleting=False)
        )


_SUPERSEDED = (
    "held behind a local change the hub has acked since: the hub answers with a newer change"
    " or a conflict for the NOC"
)
_DELETED_HERE = (
    "the site deleted it (it made it; the delete is sent again to a hub restored from a backup):"
    " not made again unless the hub overrides"
)
_HELD = "a local change to it waits for the hub's ack; the hub's change waits here"
