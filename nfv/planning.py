"""Planning: model + flavour + instantiation level (+ scale levels) -> exactly what to create.

Pure functions, no I/O. The lifecycle drives them: ``plan`` for instantiate, ``scale`` for
scale out/in (``diff`` gives the instances to add or remove), all deterministic, so the same
request always yields the same plan and scaling out then in returns the plan it started from.

How many instances of a VDU:

* with an instantiation level: the ``VduInstantiationLevels`` number for it, else its initial
  delta plus the aspect deltas up to the level's ``scale_info``;
* without one (and no ``default_level``): its initial delta (else ``min_number_of_instances``)
  at scale level 0 of every aspect;
* then, per aspect in ``scale_levels``: plus the deltas from the level's scale level up to the
  requested one (minus them, going down). Step ``k`` of an aspect uses ``step_deltas[k-1]``,
  or the last entry when the list is shorter (uniform deltas list one).

Every count must stay within the VDU's ``vdu_profile`` bounds and every scale level within
``[0, max_scale_level]``; otherwise ``InvalidPlanRequest`` says which (the VDU, the count
asked for and the bound). A package may ask for more: vendors ship levels and aspects that
go past a ``vdu_profile``, and onboarding only warns (:func:`bound_breaches` says where);
it is the operation that would actually go past the bound that is refused, here.

However large a package's bounds (SOL001 caps none), one plan never holds more than
:data:`MAX_PLANNED_INSTANCES` VDU instances: a VNFD with ``max_number_of_instances`` in the
billions is refused when asked for them, before anything is built in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from atoll.errors import Problem
from atoll.nfv.errors import InvalidPlanRequest
from atoll.nfv.model import (
    Bitrate,
    Flavour,
    LinkProtocol,
    PlacementRule,
    ScalingAspect,
    Vdu,
    Vnfd,
    VnfPackage,
    to_dict,
)


@dataclass(frozen=True)
class PlannedVolume:
    id: str  # "<instance>/<storage>"
    storage: str
    kind: str
    size_bytes: int
    image: str | None  # sw_image_data name the volume starts from, if any


@dataclass(frozen=True)
class PlannedPort:
    id: str  # "<instance>/<cp>"
    cp: str
    order: int | None
    virtual_link: str | None
    external_link: str | None
    layer_protocols: tuple[str, ...]


@dataclass(frozen=True)
class PlacementConstraint:
    """This instance is placed with (affinity) or apart from (anti-affinity) every instance
    of ``vdus`` at ``scope`` (``nfvi_node``, ``zone``, ...)."""

    rule: str
    kind: str
    scope: str
    vdus: tuple[str, ...]


@dataclass(frozen=True)
class PlannedInstance:
    id: str  # "<vdu>-<index>"
    vdu: str
    index: int
    vcpus: int
    memory_bytes: int
    root_disk_bytes: int | None
    image: str | None
    volumes: tuple[PlannedVolume, ...]
    ports: tuple[PlannedPort, ...]
    placement: tuple[PlacementConstraint, ...]


@dataclass(frozen=True)
class PlannedLink:
    id: str
    layer_protocols: tuple[str, ...]
    bitrate: Bitrate  # the level's requirement, else the profile's maximum
    protocols: tuple[LinkProtocol, ...]


@dataclass(frozen=True)
class DeploymentPlan:
    flavour_id: str
    instantiation_level: str | None
    scale_levels: Mapping[str, int]  # every aspect of the flavour
    vdu_counts: Mapping[str, int]
    instances: tuple[PlannedInstance, ...]
    virtual_links: tuple[PlannedLink, ...]
    placement_rules: tuple[PlacementRule, ...]

    def to_dict(self) -> dict[str, Any]:
        out = to_dict(self)
        assert isinstance(out, dict)
        return out


@dataclass(frozen=True)
class PlanDelta:
    added: tuple[PlannedInstance, ...]
    removed: tuple[PlannedInstance, ...]


def _flavour(model: Vnfd | VnfPackage, flavour_id: str) -> Flavour:
    vnfd = model.vnfd if isinstance(model, VnfPackage) else model
    for flavour in vnfd.flavours:
        if flavour.id == flavour_id:
            return flavour
    known = ", ".join(f.id for f in vnfd.flavours)
    raise InvalidPlanRequest(
        "no such deployment flavour",
        [Problem("flavour_id", f"{flavour_id!r} is not a flavour of this VNF (known: {known})")],
    )


def step_delta(aspect: ScalingAspect, vdu: str, step: int) -> int:
    """Instances of ``vdu`` that step ``step`` (1-based) of ``aspect`` adds."""
    if not aspect.step_deltas:
        return 0
    delta_id = aspect.step_deltas[min(step, len(aspect.step_deltas)) - 1]
    return aspect.vdu_deltas.get(vdu, {}).get(delta_id, 0)


def _upto(aspect: ScalingAspect, vdu: str, level: int) -> int:
    """Instances of ``vdu`` that the first ``level`` steps of ``aspect`` add (steps past the
    end of ``step_deltas`` each add its last entry: computed, not summed one by one)."""
    known = len(aspect.step_deltas)
    if level <= 0 or not known:
        return 0
    head = sum(step_delta(aspect, vdu, k) for k in range(1, min(level, known) + 1))
    return head + max(0, level - known) * step_delta(aspect, vdu, known)


def _between(aspect: ScalingAspect, vdu: str, start: int, end: int) -> int:
    return _upto(aspect, vdu, end) - _upto(aspect, vdu, start)


def _start(vdu: Vdu) -> int:
    """Instances of ``vdu`` at scale level 0 without an instantiation level."""
    return vdu.initial_delta if vdu.initial_delta is not None else vdu.min_instances


def _base_count(flavour: Flavour, vdu: Vdu, level_id: str | None) -> int:
    start = _start(vdu)
    if level_id is None:
        return start
    level = flavour.level(level_id)
    if vdu.id in level.vdu_instances:
        return level.vdu_instances[vdu.id]
    return start + sum(
        _between(aspect, vdu.id, 0, level.scale_info.get(aspect.id, 0))
        for aspect in flavour.aspects
    )


MAX_PLANNED_INSTANCES = 10_000
"""The most VDU instances one plan (one VNF instance) holds, all VDUs together."""


def _outside(vdu: Vdu, n: int) -> str | None:
    """What is wrong with ``n`` instances of ``vdu``, or None when its profile allows it."""
    if n > vdu.max_instances:
        return (
            f"{n} instances of {vdu.id} asked for, outside its vdu_profile "
            f"[{vdu.min_instances}, {vdu.max_instances}]: "
            f"max_number_of_instances is {vdu.max_instances}"
        )
    if n < vdu.min_instances:
        return (
            f"{n} instances of {vdu.id} asked for, outside its vdu_profile "
            f"[{vdu.min_instances}, {vdu.max_instances}]: "
            f"min_number_of_instances is {vdu.min_instances}"
        )
    return None


@dataclass(frozen=True)
class BoundBreach:
    """Where a flavour asks for a count of ``vdu`` its ``vdu_profile`` does not allow.

    ``source`` is ``"initial_delta"``, ``"level"`` (``ref`` the instantiation level) or
    ``"aspect"`` (``ref`` the aspect, ``count`` at its ``max_scale_level`` from scale level 0;
    ``reach`` is the highest scale level still within the bound). ``what`` says it in words.
    """

    source: str
    ref: str
    vdu: str
    count: int
    what: str
    reach: int = 0


def bound_breaches(flavour: Flavour) -> list[BoundBreach]:
    """Every initial delta, instantiation level and scaling aspect of ``flavour`` that asks
    for a count outside a VDU's ``vdu_profile``: what onboarding warns about."""
    out = []
    for vdu in flavour.vdus:
        start = _start(vdu)
        wrong = _outside(vdu, start) if vdu.initial_delta is not None else None
        if wrong is not None:
            out.append(BoundBreach("initial_delta", vdu.id, vdu.id, start, wrong))
        for level in flavour.instantiation_levels:
            n = _base_count(flavour, vdu, level.id)
            wrong = _outside(vdu, n)
            if wrong is not None:
                out.append(BoundBreach("level", level.id, vdu.id, n, wrong))
        for aspect in flavour.aspects:
            top = start + _upto(aspect, vdu.id, aspect.max_scale_level)
            if top <= vdu.max_instances or start > vdu.max_instances:
                continue  # within, or already said of the initial delta
            low, high = 0, aspect.max_scale_level  # start + _upto grows with the level
            while low < high:
                middle = (low + high + 1) // 2
                if start + _upto(aspect, vdu.id, middle) <= vdu.max_instances:
                    low = middle
                else:
                    high = middle - 1
            wrong = (
                f"aspect {aspect.id} asks for {top} instances of {vdu.id} at its "
                f"max_scale_level {aspect.max_scale_level} (from {start} at scale level 0), "
                f"more than its vdu_profile [{vdu.min_instances}, {vdu.max_instances}] allows"
            )
            out.append(BoundBreach("aspect", aspect.id, vdu.id, top, wrong, reach=low))
    return out


def _resolve_levels(
    flavour: Flavour, level_id: str | None, scale_levels: Mapping[str, int] | None
) -> tuple[dict[str, int], dict[str, int]]:
    """(scale levels the instantiation level implies, scale levels requested), checked."""
    problems = []
    if level_id is not None and level_id not in {lv.id for lv in flavour.instantiation_levels}:
        known = ", ".join(lv.id for lv in flavour.instantiation_levels) or "none"
        problems.append(
            Problem(
                "instantiation_level_id",
                f"{level_id!r} is not a level of flavour {flavour.id!r} (known: {known})",
            )
        )
        raise InvalidPlanRequest("no such instantiation level", problems)
    implied = {a.id: 0 for a in flavour.aspects}
    if level_id is not None:
        implied.update(flavour.level(level_id).scale_info)
    wanted = dict(implied)
    for aspect_id, value in (scale_levels or {}).items():
        if aspect_id not in implied:
            problems.append(
                Problem(f"scale_levels.{aspect_id}", f"not an aspect of flavour {flavour.id!r}")
            )
            continue
        top = flavour.aspect(aspect_id).max_scale_level
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            problems.append(
                Problem(f"scale_levels.{aspect_id}", f"scale level {value!r} is outside [0, {top}]")
            )
            continue
        wanted[aspect_id] = value
    if problems:
        raise InvalidPlanRequest("scale levels the flavour does not offer", problems)
    return implied, wanted


def vdu_counts(
    model: Vnfd | VnfPackage,
    flavour_id: str,
    instantiation_level_id: str | None = None,
    scale_levels: Mapping[str, int] | None = None,
) -> tuple[dict[str, int], dict[str, int], str | None]:
    """(instances per VDU, scale level per aspect, level used), checked against bounds."""
    flavour = _flavour(model, flavour_id)
    level_id = instantiation_level_id or flavour.default_level
    implied, wanted = _resolve_levels(flavour, level_id, scale_levels)
    counts: dict[str, int] = {}
    problems = []
    for vdu in flavour.vdus:
        n = _base_count(flavour, vdu, level_id) + sum(
            _between(aspect, vdu.id, implied[aspect.id], wanted[aspect.id])
            for aspect in flavour.aspects
        )
        wrong = _outside(vdu, n)
        if wrong is not None:
            problems.append(Problem(f"vdu.{vdu.id}", wrong))
        counts[vdu.id] = n
    if not problems and sum(counts.values()) > MAX_PLANNED_INSTANCES:
        problems.append(
            Problem(
                "vdu",
                f"{sum(counts.values())} VDU instances asked for in one VNF instance, "
                f"more than the {MAX_PLANNED_INSTANCES} one plan may hold",
            )
        )
    if problems:
        raise InvalidPlanRequest("the plan would break VDU instance bounds", problems)
    return counts, wanted, level_id


def plan(
    model: Vnfd | VnfPackage,
    flavour_id: str,
    instantiation_level_id: str | None = None,
    scale_levels: Mapping[str, int] | None = None,
) -> DeploymentPlan:
    """The exact set of instances, volumes, ports and internal links to create."""
    flavour = _flavour(model, flavour_id)
    counts, levels, level_id = vdu_counts(model, flavour_id, instantiation_level_id, scale_levels)
    instances = tuple(
        _instance(flavour, vdu, index) for vdu in flavour.vdus for index in range(counts[vdu.id])
    )
    level = flavour.level(level_id) if level_id is not None else None
    links = tuple(
        PlannedLink(
            link.id,
            link.layer_protocols,
            level.vl_bitrates.get(link.id, link.max_bitrate) if level else link.max_bitrate,
            link.protocols,
        )
        for link in flavour.virtual_links
    )
    return DeploymentPlan(
        flavour_id=flavour.id,
        instantiation_level=level_id,
        scale_levels=MappingProxyType(levels),
        vdu_counts=MappingProxyType(counts),
        instances=instances,
        virtual_links=links,
        placement_rules=flavour.placement_rules,
    )


def _instance(flavour: Flavour, vdu: Vdu, index: int) -> PlannedInstance:
    name = f"{vdu.id}-{index}"
    volumes = []
    for storage_id in vdu.virtual_storages:
        storage = flavour.storage(storage_id)
        image = storage.sw_image.name if storage.sw_image else None
        volumes.append(
            PlannedVolume(
                f"{name}/{storage_id}", storage_id, storage.kind, storage.size_bytes, image
            )
        )
    cps = sorted(
        (cp for cp in flavour.cps if cp.vdu == vdu.id),
        key=lambda cp: (cp.order if cp.order is not None else 1 << 30, cp.id),
    )
    ports = tuple(
        PlannedPort(
            f"{name}/{cp.id}",
            cp.id,
            cp.order,
            cp.virtual_link,
            cp.external_link,
            cp.layer_protocols,
        )
        for cp in cps
    )
    placement = tuple(
        PlacementConstraint(rule.name, rule.kind, rule.scope, rule.vdus)
        for rule in flavour.placement_rules
        if vdu.id in rule.vdus
    )
    return PlannedInstance(
        id=name,
        vdu=vdu.id,
        index=index,
        vcpus=vdu.vcpus,
        memory_bytes=vdu.memory_bytes,
        root_disk_bytes=vdu.root_disk_bytes,
        image=vdu.sw_image.name if vdu.sw_image else None,
        volumes=tuple(volumes),
        ports=ports,
        placement=placement,
    )


def scale(
    model: Vnfd | VnfPackage, current: DeploymentPlan, aspect_id: str, steps: int
) -> DeploymentPlan:
    """``current`` scaled ``steps`` levels of ``aspect_id`` (positive: out, negative: in)."""
    levels = dict(current.scale_levels)
    if aspect_id not in levels:
        raise InvalidPlanRequest(
            "no such scaling aspect",
            [
                Problem(
                    "aspect_id", f"{aspect_id!r} is not an aspect of flavour {current.flavour_id!r}"
                )
            ],
        )
    levels[aspect_id] += steps
    return plan(model, current.flavour_id, current.instantiation_level, levels)


def diff(old: DeploymentPlan, new: DeploymentPlan) -> PlanDelta:
    """Instances to create and to remove to go from ``old`` to ``new``."""
    old_ids = {i.id for i in old.instances}
    new_ids = {i.id for i in new.instances}
    return PlanDelta(
        added=tuple(i for i in new.instances if i.id not in old_ids),
        removed=tuple(i for i in old.instances if i.id not in new_ids),
    )
