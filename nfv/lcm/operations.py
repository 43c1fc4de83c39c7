"""What each LCM request means for the deployment plan, and the instance info it leaves.

Pure and deterministic, between the typed requests (:mod:`.requests`), the planner
(:mod:`atoll.nfv.planning`) and the instance model (:mod:`.instance`). The hub's engine
calls these before it starts an op occurrence, so a request the package cannot satisfy is a
400 with no op occurrence (a scale out past ``max_scale_level``, a level or aspect the
flavour lacks, a count outside a ``vdu_profile``); each problem names the request
attribute (``body.numberOfSteps``) and what the package allows.

* :func:`instantiate_plan`, :func:`scale_plan`, :func:`scale_to_level_plan`,
  :func:`change_vnfpkg_plan` (the same flavour, level and scale levels in the new package,
  where it has them): the plan the operation leads to; :func:`current_plan` rebuilds an
  instance's plan from its ``instantiatedVnfInfo`` (flavour, ``scaleStatus`` and the
  instantiation level kept in its ``metadata.instantiationLevelId``), so the engine stores
  no plan of its own.
* :func:`instantiated_info`: the ``instantiatedVnfInfo`` a plan and its per-site intent
  make: ``scaleStatus``, ``maxScaleLevels``, ``vnfcResourceInfo`` (with each VNFC's CPs),
  ``extCpInfo`` (one per external CP of each VNFC), internal links and storage, every
  resource with its site as ``vimConnectionId``.

Rollback needs no function of its own: it is :func:`atoll.nfv.lcm.intent.diff` from the
intent the failed operation wrote back to the intent before it (to nothing for instantiate).
"""

from __future__ import annotations

import dataclasses

from atoll.errors import InvalidInput, Problem
from atoll.nfv.errors import InvalidPlanRequest
from atoll.nfv.lcm.instance import (
    InstantiatedVnfInfo,
    VirtualStorageResourceInfo,
    VnfcCpInfo,
    VnfExtCpInfo,
    VnfVirtualLinkResourceInfo,
)
from atoll.nfv.lcm.intent import SiteIntent, vnfc_resource_info
from atoll.nfv.lcm.requests import (
    ChangeCurrentVnfPkgRequest,
    InstantiateVnfRequest,
    ScaleVnfRequest,
    ScaleVnfToLevelRequest,
)
from atoll.nfv.lcm.wire import ResourceHandle, ScaleInfo
from atoll.nfv.model import VnfPackage
from atoll.nfv.planning import DeploymentPlan, plan, scale

LEVEL_KEY = "instantiationLevelId"


def _rerooted(exc: InvalidPlanRequest, names: dict[str, str]) -> InvalidPlanRequest:
    """``exc`` with the planner's problem paths named as the request's attributes."""
    out = []
    for p in exc.problems:
        head, _, rest = p.where.partition(".")
        where = names.get(p.where) or names.get(head) or p.where
        out.append(Problem(where, f"{rest}: {p.what}" if rest and head in names else p.what))
    return InvalidPlanRequest(exc.summary, out)


def instantiate_plan(package: VnfPackage, request: InstantiateVnfRequest) -> DeploymentPlan:
    """The plan an instantiate request asks for (its flavour and level)."""
    try:
        return plan(package, request.flavour_id, request.instantiation_level_id)
    except InvalidPlanRequest as exc:
        raise _rerooted(
            exc,
            {"flavour_id": "body.flavourId", "instantiation_level_id": "body.instantiationLevelId"},
        ) from None


def current_plan(package: VnfPackage, info: InstantiatedVnfInfo) -> DeploymentPlan:
    """The plan an instantiated VNF runs, rebuilt from its ``instantiatedVnfInfo``."""
    level = (info.metadata or {}).get(LEVEL_KEY)
    levels = {s.aspect_id: s.scale_level for s in info.scale_status or ()}
    return plan(package, info.flavour_id, level if isinstance(level, str) else None, levels)


def scale_plan(
    package: VnfPackage, info: InstantiatedVnfInfo, request: ScaleVnfRequest
) -> DeploymentPlan:
    """The plan after a scale request: ``numberOfSteps`` of ``aspectId``, out or in."""
    steps = request.number_of_steps if request.type == "SCALE_OUT" else -request.number_of_steps
    try:
        return scale(package, current_plan(package, info), request.aspect_id, steps)
    except InvalidPlanRequest as exc:
        raise _rerooted(
            exc, {"aspect_id": "body.aspectId", "scale_levels": "body.numberOfSteps"}
        ) from None


def scale_to_level_plan(
    package: VnfPackage, info: InstantiatedVnfInfo, request: ScaleVnfToLevelRequest
) -> DeploymentPlan:
    """The plan at the level (or the per-aspect scale levels) a scale_to_level asks for."""
    try:
        if request.instantiation_level_id is not None:
            return plan(package, info.flavour_id, request.instantiation_level_id)
        current = current_plan(package, info)
        wanted = {s.aspect_id: s.scale_level for s in request.scale_info or ()}
        return plan(package, info.flavour_id, current.instantiation_level, wanted)
    except InvalidPlanRequest as exc:
        raise _rerooted(
            exc,
            {
                "instantiation_level_id": "body.instantiationLevelId",
                "scale_levels": "body.scaleInfo",
            },
        ) from None


def change_vnfpkg_plan(
    new: VnfPackage, info: InstantiatedVnfInfo, request: ChangeCurrentVnfPkgRequest
) -> DeploymentPlan:
    """The plan of the running flavour, level and scale levels in package ``new``: refused
    (naming ``body.vnfdId``) when ``new`` is another VNFD or lacks what the instance runs."""
    if request.vnfd_id != new.vnfd.descriptor_id:
        raise InvalidPlanRequest(
            "the package is not the one asked for",
            [Problem("body.vnfdId", f"the package given is {new.vnfd.descriptor_id!r}")],
        )
    level = (info.metadata or {}).get(LEVEL_KEY)
    levels = {s.aspect_id: s.scale_level for s in info.scale_status or ()}
    try:
        return plan(new, info.flavour_id, level if isinstance(level, str) else None, levels)
    except InvalidPlanRequest as exc:
        raise InvalidPlanRequest(
            f"VNFD {request.vnfd_id} cannot run this instance as it runs now",
            [Problem("body.vnfdId", str(p)) for p in exc.problems],
        ) from None


def heal_targets(info: InstantiatedVnfInfo, vnfc_ids: tuple[str, ...] | None) -> tuple[str, ...]:
    """The VNFCs a heal request names (all when none), each checked to exist."""
    known = [v.id for v in info.vnfc_resource_info or ()]
    if vnfc_ids is None:
        return tuple(known)
    unknown = [
        Problem(f"body.vnfcInstanceId[{i}]", f"{v!r} is not a VNFC of this instance")
        for i, v in enumerate(vnfc_ids)
        if v not in known
    ]
    if unknown:
        raise InvalidInput("no such VNFC to heal", unknown)
    return tuple(dict.fromkeys(vnfc_ids))


def instantiated_info(
    package: VnfPackage, deployment: DeploymentPlan, intent: SiteIntent
) -> InstantiatedVnfInfo:
    """The ``instantiatedVnfInfo`` of a VNF deployed as ``deployment`` with ``intent``."""
    flavour = package.vnfd.flavour(deployment.flavour_id)
    ports = {i.id: i.ports for i in deployment.instances}
    vnfcs, ext_cps = [], []
    for vnfc in vnfc_resource_info(intent):
        cps = []
        for port in ports.get(vnfc.id, ()):
            ext_id = f"{port.id}-ext" if port.virtual_link is None else None
            cps.append(VnfcCpInfo(id=port.id, cpd_id=port.cp, vnf_ext_cp_id=ext_id))
            if ext_id is not None:
                ext_cps.append(
                    VnfExtCpInfo(id=ext_id, cpd_id=port.cp, associated_vnfc_cp_id=port.id)
                )
        vnfcs.append(dataclasses.replace(vnfc, vnfc_cp_info=tuple(cps) or None))
    links, storages = [], []
    for site in sorted(intent):
        for d in intent[site]:
            handle = ResourceHandle(
                vim_connection_id=site, resource_id=d.meta.id, vim_level_resource_type=d.kind
            )
            if d.kind == "network":
                links.append(
                    VnfVirtualLinkResourceInfo(
                        id=d.meta.id,
                        vnf_virtual_link_desc_id=d.meta.labels["vnf.vl"],
                        network_resource=handle,
                    )
                )
            elif d.kind == "volume":
                storages.append(
                    VirtualStorageResourceInfo(
                        id=d.meta.id,
                        virtual_storage_desc_id=d.meta.labels["vnf.storage"],
                        storage_resource=handle,
                    )
                )
    return InstantiatedVnfInfo(
        flavour_id=deployment.flavour_id,
        scale_status=tuple(
            ScaleInfo(aspect_id=a, scale_level=n) for a, n in deployment.scale_levels.items()
        )
        or None,
        max_scale_levels=tuple(
            ScaleInfo(aspect_id=a.id, scale_level=a.max_scale_level) for a in flavour.aspects
        )
        or None,
        ext_cp_info=tuple(ext_cps),
        vnfc_resource_info=tuple(vnfcs),
        vnf_virtual_link_resource_info=tuple(links) or None,
        virtual_storage_resource_info=tuple(storages) or None,
        metadata={LEVEL_KEY: deployment.instantiation_level}
        if deployment.instantiation_level
        else None,
    )
