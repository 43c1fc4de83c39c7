"""The hub's LCM engine: VNF instances, operations on them, and the loop that runs them.

A request (:meth:`Engine.start`) is checked and planned (:mod:`.planner`) before anything is
written: a request the package, placement or state cannot take is a 4xx and no op
occurrence. Then one commit creates the op occurrence (STARTING) with the instance's lock
(:mod:`.records`: a second operation gets 409 from the store) and the loop takes over.

Each pass of the engine's loop (:class:`atoll.background.Loop`, every
``lcm_poll_interval`` seconds and whenever kicked) drives every active op occurrence:

* STARTING → PROCESSING;
* PROCESSING (and ROLLING_BACK) works site by site (:mod:`.sitework`; where it is, in the
  op occurrence's ``work``: :mod:`.work`): a site is
  ``pending`` until written (at most ``maxParallel`` sites ``applying`` at once), then
  ``applying`` until its facts say ``done`` or ``failed``. Intent before act (as the
  site agent's journal): a site is recorded ``applying`` (its waits ``None``) before it is
  written, and what the write answered (its waits) is saved after; a cancel landing in
  between (the save loses its compare-and-set) or a hub stopping there leaves it recorded
  ``applying``, and the next pass finishes the write (again: harmless) for its waits, so a
  site whose intent was written is never taken for one not started. (One commit of the
  site's objects and the op occurrence would not do: the waits are the revisions that
  commit gives.) An offline site stays ``applying`` with a message saying so, until
  ``siteTimeout`` (``lcm_site_timeout``; at most a day) fails it. A failure at one site
  does not stop the others unless ``stopOnFailure``. (The request models check these options:
  :class:`atoll.nfv.lcm.requests.LcmOptions`.) When every site is done the next step
  starts (a GRACEFUL terminate stops the servers, then deletes them: the first step ends
  when the servers are SHUTOFF or the timeout passes); after the last the operation
  COMPLETES: the instance, the op occurrence (with its resourceChanges) and the lock go in
  one commit. When no site is left applying and some failed, or none of the pending ones
  could be started (whatever the cause): FAILED_TEMP (a rollback: back to FAILED_TEMP)
  with every site's failure in ``error``. So an operation never stays PROCESSING with
  nothing to wait for, where only a ``cancel`` could end it (SOL003's other tasks need
  FAILED_TEMP).
* ``retry`` runs the current step again at every site not done (writes are idempotent;
  after a rollback that stopped half-way: the operation again at every site);
  ``rollback`` writes the intent the instance had before the operation at every site
  (ROLLED_BACK: the instance's objects at every site are what they were, so after an
  instantiate nothing is left); ``fail`` gives up (FAILED), leaving what was made: such an
  instance is not deleted while it has objects at sites.
* ``cancel`` (STARTING, PROCESSING, ROLLING_BACK) is written on the op occurrence first
  (``isCancelPending``, ``cancelMode``); the loop acts on it (:mod:`.cancelling`):
  STARTING is ROLLED_BACK, FORCEFUL is FAILED_TEMP at the next pass, GRACEFUL once the
  sites in flight are done or failed (none is started meanwhile).

Every state an op occurrence enters is recorded for subscribers through
:func:`atoll.hub.lcm.outbox.emit`. At hub start (:meth:`Engine.recover`) every active op
occurrence goes through :func:`atoll.nfv.lcm.states.recover` with ``resume=True``: STARTING
(nothing written) is ROLLED_BACK; PROCESSING and ROLLING_BACK carry on where the store
says they were, a cancel pending on them included.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from atoll import ids
from atoll.background import Loop, LoopSettings
from atoll.errors import Conflict, InvalidInput, NotFound, StaleRevision
from atoll.hub.catalog import vnf_packages as pkgs
from atoll.hub.identity.limits import check_room
from atoll.hub.lcm import cancelling, outbox, records, siteheals, sitework
from atoll.hub.lcm import work as op_work
from atoll.hub.lcm.planner import REQUESTS, Context, plan_operation
from atoll.hub.lcm.targets import PackageCache, Sites, usable_package
from atoll.hub.settings import HubSettings
from atoll.hub.sites import intent
from atoll.hub.store.base import Delete, Put, Record, Store, Write
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.nfv.lcm import states
from atoll.nfv.lcm.instance import (
    InstantiatedVnfInfo,
    Operation,
    ResourceChanges,
    VnfInstance,
    VnfLcmOpOcc,
)
from atoll.nfv.lcm.requests import CancelMode, CreateVnfRequest
from atoll.nfv.lcm.vim_access import without_secrets
from atoll.nfv.lcm.wire import ProblemDetails
from atoll.resources import Desired
from atoll.timestamps import iso
from atoll.tokens import Claims

log = logging.getLogger(__name__)
IDENTIFIER_CREATED = "VnfIdentifierCreationNotification"
IDENTIFIER_DELETED = "VnfIdentifierDeletionNotification"


class Engine:
    def __init__(
        self,
        settings: HubSettings,
        store: Store,
        clock: Callable[[], float] = time.time,
        packages: PackageCache | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.packages = packages or PackageCache(settings.data_dir / "vnf_packages")
        self.loop = Loop(
            "lcm engine",
            self.run_once,
            LoopSettings(interval=settings.lcm_poll_interval, retry=settings.lcm_poll_interval),
            logger=log,
        )

    def now(self) -> str:
        return iso(self.clock())

    async def start(self) -> None:
        await self.recover()
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    # -- instances ---------------------------------------------------------------------------
    async def create_instance(self, claims: Claims, body: JSON) -> Record:
        request = CreateVnfRequest.from_wire(body, where="body", strict=True)
        if claims.project_id is None:
            raise InvalidInput("VNF instances belong to a project: use a project-scoped token")
        package = await usable_package(
            self.store, claims.project_id, request.vnfd_id, "body.vnfdId"
        )
        await check_room(self.store, records.INSTANCE, claims.project_id,
                         self.settings.vnf_instance_limit, "VNF instances",
                         "vnf_instance_limit")  # fmt: skip
        instance_id = ids.hub_id()
        instance = VnfInstance(
            id=instance_id,
            vnf_instance_name=request.vnf_instance_name,
            vnf_instance_description=request.vnf_instance_description,
            vnfd_id=request.vnfd_id,
            vnf_provider=package.get("vnfProvider") or "",
            vnf_product_name=package.get("vnfProductName") or "",
            vnf_software_version=package.get("vnfSoftwareVersion") or "",
            vnfd_version=package.get("vnfdVersion") or "",
            metadata=request.metadata,
        )
        base = {
            "id": instance_id,
            "project_id": claims.project_id,
            "project": claims.project,
            "vnfPkgId": package["id"],
            "name": request.vnf_instance_name,
            "placement": None,
            "networks": [],
            "createdAt": self.now(),
        }
        value = records.instance_value(base, instance)
        for _ in range(10):
            package_record = await self.store.get(pkgs.KIND, package["id"])
            used = {**package_record.value, "usageState": pkgs.IN_USE}
            try:
                await self.store.commit(
                    [
                        Put(records.INSTANCE, instance_id, value, 0),
                        Put(pkgs.KIND, package["id"], used, package_record.revision),
                    ]
                )
                break
            except StaleRevision:
                continue
        else:
            raise Conflict(f"VNF package {package['id']} kept changing; retry")
        await self._identifier(IDENTIFIER_CREATED, value, instance)
        return await self.store.get(records.INSTANCE, instance_id)

    async def delete_instance(self, claims: Claims, instance_id: str) -> None:
        record = await records.instance_record(self.store, instance_id, claims)
        instance = records.instance_of(record.value)
        if instance.instantiation_state != "NOT_INSTANTIATED":
            raise Conflict(f"VNF instance {instance_id} is INSTANTIATED: terminate it first")
        try:
            lock = await self.store.get(records.LOCK, instance_id)
            raise Conflict(
                f"VNF instance {instance_id} has operation {lock.value['op_id']} in progress"
            )
        except NotFound:
            pass
        left = await records.placed_objects(self.store, instance_id)
        if left:
            raise Conflict(
                f"VNF instance {instance_id} still has {len(left)} object(s) at sites (an "
                "operation was failed): instantiate and terminate it, or remove them"
            )
        package_id = record.value["vnfPkgId"]
        writes: list[Write] = [Delete(records.INSTANCE, instance_id, record.revision)]
        others = [
            r
            for r in await list_all(self.store, records.INSTANCE, {"vnfPkgId": package_id})
            if r.key != instance_id
        ]
        if not others:
            try:
                package = await self.store.get(pkgs.KIND, package_id)
                free = {**package.value, "usageState": pkgs.NOT_IN_USE}
                writes.append(Put(pkgs.KIND, package_id, free, package.revision))
            except NotFound:
                pass
        try:
            await self.store.commit(writes)
        except StaleRevision as exc:
            raise Conflict(f"VNF instance {instance_id} changed meanwhile; retry") from exc
        await self._identifier(IDENTIFIER_DELETED, record.value, instance)

    # -- starting operations -----------------------------------------------------------------
    async def start_operation(
        self, claims: Claims, instance_id: str, operation: Operation, body: JSON
    ) -> VnfLcmOpOcc:
        """Check, plan and create the op occurrence (STARTING); 409 when one is active."""
        record = await records.instance_record(self.store, instance_id, claims)
        REQUESTS[operation].from_wire(body, where="body", strict=True)  # 400 in any state
        instance = records.instance_of(record.value)
        active = await self._active_occ(instance_id)
        states.check_can_start(instance, operation, [active] if active else [])
        ctx = Context(self.store, self.packages, record.value, instance)
        planned = await plan_operation(ctx, operation, body)
        op_id = ids.hub_id()
        # operationParams: the request as sent, less the VIM access information (Atoll's
        # VIMs are its sites, reached with its own certificates; SOL003 never returns it)
        params = without_secrets(body)
        occ = states.start(op_id, instance, operation, [], self.now(), params=params)
        work = op_work.new(planned, self.settings)
        names = await Sites.load(self.store)
        for site_id, entry in work["sites"].items():
            entry["site"] = names.name(site_id)
        base = {"id": op_id, "project_id": record.value["project_id"],
                "vnf_instance_id": instance_id, "work": work}  # fmt: skip
        value = records.occ_value(base, occ)
        lock = {"op_id": op_id, "project_id": record.value["project_id"]}
        try:
            await self.store.commit(
                [
                    Put(records.OP_OCC, op_id, value, 0),
                    Put(records.LOCK, instance_id, lock, 0),
                    Put(records.INSTANCE, instance_id, record.value, record.revision),
                ]
            )
        except StaleRevision as exc:
            raise Conflict(
                f"VNF instance {instance_id} has another operation in progress (or changed "
                "meanwhile); look at its op occurrences"
            ) from exc
        await self._notify(value, occ, instance)
        self.loop.kick()
        return occ

    async def _active_occ(self, instance_id: str) -> VnfLcmOpOcc | None:
        try:
            lock = await self.store.get(records.LOCK, instance_id)
        except NotFound:
            return None
        try:
            return records.occ_of((await self.store.get(records.OP_OCC, lock.value["op_id"])).value)
        except NotFound:
            return None

    # -- tasks on an op occurrence -----------------------------------------------------------
    async def retry(self, claims: Claims, op_id: str) -> VnfLcmOpOcc:
        return await self._task(claims, op_id, "retry")

    async def rollback(self, claims: Claims, op_id: str) -> VnfLcmOpOcc:
        return await self._task(claims, op_id, "rollback")

    async def fail(self, claims: Claims, op_id: str) -> VnfLcmOpOcc:
        return await self._task(claims, op_id, "fail")

    async def cancel(self, claims: Claims, op_id: str, body: JSON) -> VnfLcmOpOcc:
        """Record a cancel on the op occurrence (the intent, before anything stops: a hub
        that restarts finds it there); the loop acts on it (:mod:`.cancelling`)."""
        record = await records.occ_record(self.store, op_id, claims)
        mode = CancelMode.from_wire(body, where="body", strict=True).cancel_mode
        for _ in range(10):  # the loop saves an active op's progress as it goes: read again
            occ = states.request_cancel(records.occ_of(record.value), mode)
            value = records.occ_value(record.value, occ)
            try:
                await self._save(record, value)
                break
            except StaleRevision:
                record = await records.occ_record(self.store, op_id, claims)
        else:
            raise Conflict(f"operation {op_id} kept changing; retry the cancel")
        self.loop.kick()
        return occ

    async def _task(self, claims: Claims, op_id: str, event: states.Event) -> VnfLcmOpOcc:
        record = await records.occ_record(self.store, op_id, claims)
        occ = states.advance(records.occ_of(record.value), event, self.now())
        work = op_work.reset_for(record.value["work"], event, self.settings.lcm_max_parallel)
        if event == "retry":
            await op_work.rebuild_failed(self.store, work)
        value = records.occ_value({**record.value, "work": work}, occ)
        writes: list[Write] = [Put(records.OP_OCC, op_id, value, record.revision)]
        if event == "fail":
            writes.append(Delete(records.LOCK, record.value["vnf_instance_id"]))
        try:
            await self.store.commit(writes)
        except (StaleRevision, NotFound) as exc:
            raise Conflict(f"operation {op_id} changed meanwhile; read it again") from exc
        await self._notify(value, occ)
        self.loop.kick()
        return occ

    # -- the loop ----------------------------------------------------------------------------
    async def recover(self) -> int:
        """At hub start: every active op occurrence through ``states.recover``."""
        moved = 0
        for record in await list_all(self.store, records.OP_OCC, {"active": True}):
            occ = records.occ_of(record.value)
            after = states.recover(occ, self.now(), resume=True)
            if after == occ:
                continue
            moved += 1
            value = records.occ_value(record.value, after)
            writes: list[Write] = [Put(records.OP_OCC, record.key, value, record.revision)]
            if after.operation_state in states.TERMINAL:
                writes.append(Delete(records.LOCK, record.value["vnf_instance_id"]))
            await self.store.commit(writes)
            await self._notify(value, after)
        return moved

    async def run_once(self) -> float | None:
        """One pass over every active op occurrence, after the sites' local heals are put
        in their instances' history (:mod:`.siteheals`)."""
        await siteheals.adopt(self.store)
        for record in await list_all(self.store, records.OP_OCC, {"active": True}):
            try:
                await self.drive(record)
            except StaleRevision:
                continue  # someone else moved it (a task, another hub): next pass
        return None

    async def drive(self, record: Record) -> None:
        occ = records.occ_of(record.value)
        if cancelling.at_once(occ):  # FORCEFUL, or STARTING (nothing is in flight)
            await self._cancel(record, copy.deepcopy(record.value["work"]), occ)
            return
        if occ.operation_state == "STARTING":
            occ = states.advance(occ, "process", self.now())
            value = records.occ_value(record.value, occ)
            record = await self._save(record, value)
            await self._notify(value, occ)
        if occ.operation_state not in ("PROCESSING", "ROLLING_BACK"):
            return
        work = copy.deepcopy(record.value["work"])
        rolling = work["phase"] == "rollback"
        step = 0 if rolling else work["step"]
        target = records.intent_from_wire(work["before"] if rolling else work["steps"][step])
        timeout = None if rolling else work["step_timeouts"][step]
        sites = await Sites.load(self.store)
        entries: dict[str, JSON] = work["sites"]
        flavors = {k: Desired.from_wire(v) for k, v in work["flavors"].items()}
        now = self.clock()
        limit_s = op_work.site_timeout(work, self.settings.lcm_site_timeout)
        for site_id, e in entries.items():
            site = sites.by_id.get(site_id)
            if e["state"] == "applying" and e["waits"] is None and site is not None:
                # its intent is recorded, not what its write answered: finish the write
                e["waits"] = await sitework.write_again(
                    self.store, site, occ.vnf_instance_id, target.get(site_id, ()), flavors
                )
            if e["state"] == "applying":
                await self._check(site_id, e, sites, now, timeout, limit_s)
            e["site"] = sites.name(site_id)
        if occ.is_cancel_pending:  # GRACEFUL: the sites in flight finish, nothing starts
            if not any(e["state"] == "applying" for e in entries.values()):
                await self._cancel(record, work, occ)
            elif work != record.value["work"]:
                await self._save(record, {**record.value, "work": work})
            return
        starting = self._to_start(work, sites, now)
        if starting:  # intent before act: the store says they are applying, then they are
            record = await self._save(record, {**record.value, "work": copy.deepcopy(work)})
        for site_id in starting:
            entries[site_id]["waits"] = await sitework.write_site(
                self.store, sites.by_id[site_id], occ.vnf_instance_id, target.get(site_id, ()),
                flavors,
            )  # fmt: skip
            entries[site_id]["message"] = "written; waiting for the site"
        if all(e["state"] == "done" for e in entries.values()):
            if not rolling and step + 1 < len(work["steps"]):
                work["step"] = step + 1
                for e in entries.values():
                    e.update(state="pending", waits=[], message="")
            else:
                await self._finish(record, work, occ)
                return
        elif not any(e["state"] == "applying" for e in entries.values()):
            # nothing runs and nothing will: every failure is in, or the sites left are not
            # to be started (stopOnFailure), or none could be (a plan that cannot progress
            # must not stay PROCESSING, where no task can end it)
            await self._failed(record, work, occ, rolling)
            return
        if work != record.value["work"]:
            await self._save(record, {**record.value, "work": work})

    @staticmethod
    def _to_start(work: JSON, sites: Sites, now: float) -> list[str]:
        """The pending sites of ``work`` to write now, marked ``applying`` (their waits
        ``None``: not written yet) in it; a site removed from the hub is marked failed."""
        entries: dict[str, JSON] = work["sites"]
        failing = any(e["state"] == "failed" for e in entries.values())
        stop = work.get("stop_on_failure") is True and failing
        limit = op_work.parallel(work)
        limit = len(entries) if limit is None else limit
        busy = sum(e["state"] == "applying" for e in entries.values())
        starting = []
        for site_id, e in entries.items():
            if e["state"] != "pending" or stop or busy >= limit:
                continue
            if site_id not in sites.by_id:
                e.update(state="failed", message=f"site {site_id} was removed from the hub")
                continue
            e.update(state="applying", started=now, waits=None, message="being written")
            starting.append(site_id)
            busy += 1
        return starting

    async def _check(
        self,
        site_id: str,
        e: JSON,
        sites: Sites,
        now: float,
        step_limit: float | None,
        site_timeout: float,
    ) -> None:
        check = await sitework.check_site(self.store, sites.by_id.get(site_id), e["waits"])
        started = float(e["started"] or now)
        if check.outcome == "done":
            e.update(state="done", message="")
        elif check.outcome == "failed":
            e.update(state="failed", message=check.message)
        elif step_limit is not None and now - started >= step_limit:
            e.update(state="done", message=f"went on after {step_limit:g} s ({check.message})")
        elif now - started >= site_timeout:
            e.update(
                state="failed", message=f"no result within {site_timeout:g} s: {check.message}"
            )
        else:
            e["message"] = check.message

    async def _save(self, record: Record, value: JSON) -> Record:
        return await self.store.put(
            records.OP_OCC, record.key, value, expect_revision=record.revision
        )

    async def _finish(self, record: Record, work: JSON, occ: VnfLcmOpOcc) -> None:
        instance_id = occ.vnf_instance_id
        inst_record = await self.store.get(records.INSTANCE, instance_id)
        instance = records.instance_of(inst_record.value)
        base = dict(inst_record.value)
        if work["phase"] == "rollback":
            occ = states.advance(occ, "rolled_back", self.now())
        else:
            changes = ResourceChanges.from_wire(work["changes"])
            occ = states.advance(occ, "complete", self.now(), changes=changes)
            info = work["info"]
            extra = work["instance_changes"]
            instance = dataclasses.replace(
                instance,
                **extra.get("vnfd", {}),
                instantiation_state=states.instance_state_after(
                    occ.operation, instance.instantiation_state
                ),
                instantiated_vnf_info=None
                if info is None
                else await self._with_addresses(InstantiatedVnfInfo.from_wire(info)),
            )
            base.update({k: v for k, v in extra.items() if k != "vnfd"})
        value = records.occ_value({**record.value, "work": work}, occ)
        writes: list[Write] = [
            Put(records.OP_OCC, record.key, value, record.revision),
            Delete(records.LOCK, instance_id),
            Put(
                records.INSTANCE,
                instance_id,
                records.instance_value(base, instance),
                inst_record.revision,
            ),
        ]
        if base["vnfPkgId"] != inst_record.value["vnfPkgId"]:  # a CHANGE_VNFPKG completed
            writes += await self._package_usage(
                instance_id, new=base["vnfPkgId"], old=inst_record.value["vnfPkgId"]
            )
        await self.store.commit(writes)
        await self._notify(value, occ, instance)

    async def _package_usage(self, instance_id: str, *, new: str, old: str) -> list[Write]:
        """The new package IN_USE; the old one NOT_IN_USE unless another instance uses it."""
        writes: list[Write] = []
        users = await list_all(self.store, records.INSTANCE, {"vnfPkgId": old})
        for package_id, state in (
            (new, pkgs.IN_USE),
            (old, pkgs.IN_USE if any(r.key != instance_id for r in users) else pkgs.NOT_IN_USE),
        ):
            try:
                package = await self.store.get(pkgs.KIND, package_id)
            except NotFound:
                continue
            value = {**package.value, "usageState": state}
            writes.append(Put(pkgs.KIND, package_id, value, package.revision))
        return writes

    async def _failed(self, record: Record, work: JSON, occ: VnfLcmOpOcc, rolling: bool) -> None:
        failed = [e for e in work["sites"].values() if e["state"] == "failed"]
        not_run = ", ".join(e["site"] for e in work["sites"].values() if e["state"] == "pending")
        if failed:
            detail = f"{len(failed)} site(s) failed: " + "; ".join(
                f"site {e['site']}: {e['message']}" for e in failed
            )
            if not_run:
                detail += f"; not started (stopOnFailure): {not_run}"
        else:  # pending sites, none of which the engine could start
            detail = (
                f"no site could be started (maxParallel {work.get('max_parallel')!r}); "
                f"not started: {not_run}"
            )
        error = ProblemDetails(
            status=500,
            title="rollback_failed" if rolling else "site_failed" if failed else "no_progress",
            detail=detail,
        )
        occ = states.advance(
            occ, "rollback_failed" if rolling else "fail_temp", self.now(), error=error
        )
        value = records.occ_value({**record.value, "work": work}, occ)
        await self._save(record, value)
        await self._notify(value, occ)

    async def _cancel(self, record: Record, work: JSON, occ: VnfLcmOpOcc) -> None:
        """Act on the pending cancel: STARTING → ROLLED_BACK (and the lock goes), else
        FAILED_TEMP with what each site was left at, in one commit."""
        detail = cancelling.stop(work, occ)
        error = states.cancelled_error(occ, detail)
        after = states.advance(occ, "cancel", self.now(), error=error)
        value = records.occ_value({**record.value, "work": work}, after)
        writes: list[Write] = [Put(records.OP_OCC, record.key, value, record.revision)]
        if after.operation_state in states.TERMINAL:
            writes.append(Delete(records.LOCK, occ.vnf_instance_id))
        await self.store.commit(writes)
        await self._notify(value, after)

    async def _with_addresses(self, info: InstantiatedVnfInfo) -> InstantiatedVnfInfo:
        """``info`` with each VNFC's addresses, as its site reported them."""
        vnfcs = []
        for v in info.vnfc_resource_info or ():
            handle = v.compute_resource
            key = intent.object_key(handle.vim_connection_id or "", "server", handle.resource_id)
            try:
                facts = (await self.store.get(intent.SITE_STATUS, key)).value.get("facts") or {}
            except NotFound:
                facts = {}
            addresses = [a for a in facts.get("addresses", ()) if isinstance(a, dict)]
            meta = {**(v.metadata or {}), "addresses": addresses}
            vnfcs.append(dataclasses.replace(v, metadata=meta))
        return dataclasses.replace(info, vnfc_resource_info=tuple(vnfcs) or None)

    # -- notifications -----------------------------------------------------------------------
    async def _notify(
        self, value: JSON, occ: VnfLcmOpOcc, instance: VnfInstance | None = None
    ) -> None:
        if instance is None:
            try:
                inst = await self.store.get(records.INSTANCE, occ.vnf_instance_id)
            except NotFound:
                return
            instance = records.instance_of(inst.value)
        note = outbox.Notification.of_op(value["project_id"], instance, occ)
        await outbox.emit(self.store, note)

    async def _identifier(self, kind: Any, value: JSON, instance: VnfInstance) -> None:
        note = outbox.Notification.of_identifier(kind, value["project_id"], instance, self.now())
        await outbox.emit(self.store, note)
