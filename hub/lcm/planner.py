"""What each LCM operation will write: its target intent per site, step by step.

:func:`plan_operation` reads the instance, its package and the store (sites, networks,
what the instance has at its sites now) and answers a :class:`Planned`: the intent before
(a rollback's target), the steps' targets (one; a GRACEFUL terminate has two: servers
stopped, then nothing), the ``instantiatedVnfInfo`` and ``resourceChanges`` the operation
leads to, and what changes in the instance record on completion. Anything the package,
the placement or the request cannot do raises here (400, 422), before an op occurrence
exists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from atoll.errors import Conflict, InvalidInput
from atoll.hub.lcm import records, targets
from atoll.hub.lcm.targets import PackageCache, Sites
from atoll.hub.store.base import Store
from atoll.jsonbody import JSON
from atoll.nfv.lcm import intent as lcm_intent
from atoll.nfv.lcm import operations
from atoll.nfv.lcm.instance import InstantiatedVnfInfo, Operation, ResourceChanges, VnfInstance
from atoll.nfv.lcm.placement import place
from atoll.nfv.lcm.requests import (
    ChangeCurrentVnfPkgRequest,
    HealVnfRequest,
    InstantiateVnfRequest,
    LcmOptions,
    PlacementRequest,
    ScaleVnfRequest,
    ScaleVnfToLevelRequest,
    TerminateVnfRequest,
    lcm_options,
)
from atoll.nfv.lcm.wire import SolModel
from atoll.resources import Desired

SiteIntent = Mapping[str, tuple[Desired, ...]]
DEFAULT_GRACE = 30  # seconds a GRACEFUL terminate waits when the request gives no timeout
REQUESTS: dict[Operation, type[SolModel]] = {
    "INSTANTIATE": InstantiateVnfRequest,
    "SCALE": ScaleVnfRequest,
    "SCALE_TO_LEVEL": ScaleVnfToLevelRequest,
    "HEAL": HealVnfRequest,
    "TERMINATE": TerminateVnfRequest,
    "CHANGE_VNFPKG": ChangeCurrentVnfPkgRequest,
}


@dataclasses.dataclass(frozen=True)
class Planned:
    before: SiteIntent
    steps: tuple[SiteIntent, ...]
    step_timeouts: tuple[float | None, ...]  # a step that ends when its time is up
    info: InstantiatedVnfInfo | None
    changes: ResourceChanges
    flavors: Mapping[str, Desired]
    instance_changes: JSON  # fields of the instance record written on completion
    options: LcmOptions  # additionalParams the engine reads (maxParallel, siteTimeout, ...)


@dataclasses.dataclass(frozen=True)
class Context:
    store: Store
    packages: PackageCache
    value: JSON  # the instance record's value
    instance: VnfInstance

    @property
    def instance_id(self) -> str:
        return self.instance.id

    @property
    def project_id(self) -> str:
        return str(self.value["project_id"])


async def plan_operation(ctx: Context, operation: Operation, body: JSON) -> Planned:
    """The :class:`Planned` of ``operation`` with request ``body`` (checked here)."""
    request = REQUESTS[operation].from_wire(body, where="body", strict=True)
    before = await records.current_intent(ctx.store, ctx.instance_id)
    options = lcm_options(request)
    if isinstance(request, TerminateVnfRequest):
        return _terminate(before, request, options)
    package_value = (await ctx.store.get("vnf_package", ctx.value["vnfPkgId"])).value
    package = await ctx.packages.get(package_value["id"])
    info = ctx.instance.instantiated_vnf_info
    changes: JSON = {}
    rebuilds: Mapping[str, int] = lcm_intent.rebuilds_of(before)
    heal: tuple[str, ...] | None = None
    if isinstance(request, InstantiateVnfRequest):
        deployment = operations.instantiate_plan(package, request)
        sites = await Sites.load(ctx.store)
        placement = targets.site_placement(request.placement(), sites)
        networks = targets.ext_networks(request.ext_virtual_links, sites)
        changes = {"placement": placement.to_wire(), "networks": networks}
    else:
        assert info is not None  # the op occurrence's state check passed: it is INSTANTIATED
        sites = await Sites.load(ctx.store)
        placement = PlacementRequest.from_wire(ctx.value.get("placement") or {})
        networks = ctx.value.get("networks") or []
        if isinstance(request, ScaleVnfRequest):
            deployment = operations.scale_plan(package, info, request)
        elif isinstance(request, ScaleVnfToLevelRequest):
            deployment = operations.scale_to_level_plan(package, info, request)
        elif isinstance(request, HealVnfRequest):
            deployment = operations.current_plan(package, info)
            heal = operations.heal_targets(info, request.vnfc_instance_id)
        else:
            assert isinstance(request, ChangeCurrentVnfPkgRequest)
            package_value = await targets.usable_package(
                ctx.store, ctx.project_id, request.vnfd_id, "body.vnfdId"
            )
            package = await ctx.packages.get(package_value["id"])
            deployment = operations.change_vnfpkg_plan(package, info, request)
            changes = {"vnfPkgId": package_value["id"], "vnfd": vnfd_fields(package_value)}
    placed = place(
        deployment, placement, sites.figures(), existing=lcm_intent.sites_of(before) or None
    )
    resolved = await targets.resolved_networks(ctx.store, ctx.project_id, networks, placed.values())
    bound = targets.bindings(
        ctx.instance_id, ctx.project_id, package_value, deployment, resolved, placed, rebuilds
    )
    if heal is not None:
        bound = lcm_intent.heal_bindings(bound, heal)
    after = await targets.boot_sources(ctx.store, lcm_intent.site_intent(deployment, bound))
    moved = "vnfPkgId" in changes  # a new package is a change even with the same intent
    if heal is None and not moved and before and not lcm_intent.diff(before, after):
        raise Conflict("the operation changes nothing: the instance already runs that way")
    return Planned(
        before=before,
        steps=(after,),
        step_timeouts=(None,),
        info=operations.instantiated_info(package, deployment, after),
        changes=_changes(before, after),
        flavors=targets.flavor_objects(ctx.instance_id, ctx.project_id, deployment),
        instance_changes=changes,
        options=options,
    )


def _terminate(before: SiteIntent, request: TerminateVnfRequest, options: LcmOptions) -> Planned:
    if request.termination_type == "GRACEFUL":
        grace = request.graceful_termination_timeout
        steps: tuple[SiteIntent, ...] = (lcm_intent.stopped(before), {})
        timeouts: tuple[float | None, ...] = (
            float(DEFAULT_GRACE if grace is None else grace),
            None,
        )
    else:
        steps, timeouts = ({},), (None,)
    return Planned(
        before=before,
        steps=steps,
        step_timeouts=timeouts,
        info=None,
        changes=_changes(before, {}),
        flavors={},
        instance_changes={},
        options=options,
    )


def _changes(before: SiteIntent, after: SiteIntent) -> ResourceChanges:
    return lcm_intent.resource_changes(lcm_intent.diff(before, after), before)


def per_site_changes(before: SiteIntent, after: SiteIntent) -> dict[str, ResourceChanges]:
    """Each site's part of the resource changes (what the op occurrence shows per site)."""
    delta = lcm_intent.diff(before, after)
    return {site: lcm_intent.resource_changes({site: d}, before) for site, d in delta.items()}


def vnfd_fields(package: JSON) -> JSON:
    """The instance attributes that come from its package's VNFD."""
    return {
        "vnfd_id": package["vnfdId"],
        "vnf_provider": package.get("vnfProvider") or "",
        "vnf_product_name": package.get("vnfProductName") or "",
        "vnf_software_version": package.get("vnfSoftwareVersion") or "",
        "vnfd_version": package.get("vnfdVersion") or "",
    }


def checked_body(body: object) -> JSON:
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body
