"""The policies of a deployment flavour: scaling aspects and deltas, instantiation levels,
initial deltas, and placement (affinity / anti-affinity) rules, checked against each other
and against the flavour's VDUs and links.

When two policies of the same kind give the same VDU different numbers (a real conformance
package does this), the first one wins — as in Tacker — and the later one is a warning.

A level, initial delta or aspect asking for more instances of a VDU than its ``vdu_profile``
allows is a warning too (:func:`warn_bounds`, once the flavour is built): vendors ship such
packages and Tacker onboards them; the planner refuses the operation that would go past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from atoll.nfv.model import (
    Bitrate,
    Flavour,
    InstantiationLevel,
    PlacementRule,
    Policy,
    ScalingAspect,
    Vdu,
)
from atoll.nfv.nodes import read_bitrate
from atoll.nfv.planning import bound_breaches
from atoll.nfv.types import TypeLibrary
from atoll.nfv.values import Values
from atoll.nfv.yaml_loader import PathKey

P = "tosca.policies.nfv."


@dataclass
class FlavourScope:
    """What policies may refer to: the flavour's VDUs, links and placement groups."""

    vdus: Mapping[str, Vdu]
    links: frozenset[str]
    groups: Mapping[str, tuple[str, ...]]
    # VDUs and links refused already (bad properties, unknown types): a policy naming one
    # is not reported again as naming nothing.
    refused: frozenset[str] = frozenset()


@dataclass
class PolicySet:
    policies: list[Policy] = field(default_factory=list)
    aspects: dict[str, dict[str, Any]] = field(default_factory=dict)
    aspect_deltas: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    levels: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_level: str | None = None
    vdu_levels: dict[str, dict[str, int]] = field(default_factory=dict)  # vdu -> level -> n
    vl_levels: dict[str, dict[str, Bitrate]] = field(default_factory=dict)
    initial_deltas: dict[str, int] = field(default_factory=dict)
    # where each number used above is written, for the warnings of warn_bounds
    initial_delta_keys: dict[str, PathKey] = field(default_factory=dict)
    vdu_level_keys: dict[str, dict[str, PathKey]] = field(default_factory=dict)
    placement: list[PlacementRule] = field(default_factory=list)


def _entries(v: Values, raw: Any, keys: PathKey) -> list[tuple[str, Any, PathKey]]:
    """Policies as (name, body, keys): TOSCA 1.2 lists of single-entry maps, or one map."""
    if isinstance(raw, Mapping):
        return [(str(k), b, (*keys, str(k))) for k, b in raw.items()]
    if not isinstance(raw, list):
        v.error(keys, "must be a list of single-entry maps")
        return []
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or len(item) != 1:
            v.error((*keys, index), "a policy must be a single-entry map 'name: definition'")
            continue
        ((name, body),) = item.items()
        out.append((str(name), body, (*keys, index, str(name))))
    return out


def read_policies(
    v: Values, raw: Any, keys: PathKey, library: TypeLibrary, scope: FlavourScope
) -> PolicySet:
    result = PolicySet()
    deferred: list[tuple[str, str, Mapping[str, Any], tuple[str, ...], PathKey]] = []
    for name, body, pkeys in _entries(v, raw, keys):
        if not isinstance(body, Mapping):
            v.error(pkeys, "a policy definition must be a map")
            continue
        kind = body.get("type")
        if not isinstance(kind, str) or kind not in library:
            v.error(
                (*pkeys, "type"),
                f"policy type {kind!r} is not defined in the package or the SOL001 type library",
            )
            continue
        targets = v.strings(body, "targets", pkeys)
        result.policies.append(Policy(name, kind, targets))
        props = v.mapping(body, "properties", pkeys) or {}
        deferred.append((name, kind, props, targets, pkeys))
    # Aspects and levels first: deltas and per-VDU levels refer to them.
    order = [f"{P}ScalingAspects", f"{P}InstantiationLevels"]
    deferred.sort(
        key=lambda d: next(
            (i for i, b in enumerate(order) if library.derives_from(d[1], b)), len(order)
        )
    )
    for name, kind, props, targets, pkeys in deferred:
        base = next((b for b in _READERS if library.derives_from(kind, P + b)), None)
        if base is not None:
            _READERS[base](v, result, scope, name, props, targets, pkeys)
    _check_levels(v, result, scope, keys)
    return result


def _check_targets(
    v: Values, scope: FlavourScope, targets: tuple[str, ...], pkeys: PathKey, *, links: bool
) -> list[str]:
    ok = []
    for target in targets:
        known = target in scope.links if links else target in scope.vdus
        if known:
            ok.append(target)
        elif target not in scope.refused:
            what = "virtual link" if links else "VDU"
            v.error((*pkeys, "targets"), f"target {target!r} is not a {what} of this flavour")
    return ok


def _aspects(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
) -> None:
    aspects = v.mapping(props, "aspects", (*pkeys, "properties"), required=True) or {}
    for aspect_id, body in aspects.items():
        akeys = (*pkeys, "properties", "aspects", str(aspect_id))
        if not isinstance(body, Mapping):
            v.error(akeys, "must be a map")
            continue
        max_level = v.integer(body, "max_scale_level", akeys, required=True)
        steps = v.strings(body, "step_deltas", akeys)
        if max_level is None:
            continue
        r.aspects[str(aspect_id)] = {
            "name": v.text(body, "name", akeys) or str(aspect_id),
            "description": v.text(body, "description", akeys),
            "max_scale_level": max_level,
            "step_deltas": steps,
            "keys": akeys,
        }


def _aspect_deltas(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
) -> None:
    prkeys = (*pkeys, "properties")
    aspect = v.text(props, "aspect", prkeys, required=True)
    deltas = v.mapping(props, "deltas", prkeys, required=True) or {}
    if aspect is not None and aspect not in r.aspects:
        v.error(
            (*prkeys, "aspect"), f"aspect {aspect!r} is not declared by a ScalingAspects policy"
        )
        return
    numbers: dict[str, int] = {}
    for delta_id, body in deltas.items():
        dkeys = (*prkeys, "deltas", str(delta_id))
        n = (
            v.integer(body, "number_of_instances", dkeys, required=True)
            if isinstance(body, Mapping)
            else None
        )
        if not isinstance(body, Mapping):
            v.error(dkeys, "must be a map with number_of_instances")
        if n is not None:
            numbers[str(delta_id)] = n
    for vdu in _check_targets(v, s, targets, pkeys, links=False):
        if aspect is not None:
            r.aspect_deltas.setdefault(aspect, {}).setdefault(vdu, numbers)


def _initial_delta(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
) -> None:
    prkeys = (*pkeys, "properties")
    delta = v.mapping(props, "initial_delta", prkeys, required=True) or {}
    n = v.integer(delta, "number_of_instances", (*prkeys, "initial_delta"), required=bool(delta))
    if n is None:
        return
    for vdu in _check_targets(v, s, targets, pkeys, links=False):
        r.initial_delta_keys.setdefault(vdu, prkeys)
        if r.initial_deltas.setdefault(vdu, n) != n:
            v.log.warn(
                v.where(pkeys),
                f"{vdu} already has initial delta "
                f"{r.initial_deltas[vdu]} from an earlier policy; that one is used",
            )


def _levels(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
) -> None:
    prkeys = (*pkeys, "properties")
    levels = v.mapping(props, "levels", prkeys, required=True) or {}
    for level_id, body in levels.items():
        lkeys = (*prkeys, "levels", str(level_id))
        if not isinstance(body, Mapping):
            v.error(lkeys, "must be a map")
            continue
        scale: dict[str, int] = {}
        for aspect, info in (v.mapping(body, "scale_info", lkeys) or {}).items():
            ikeys = (*lkeys, "scale_info", str(aspect))
            level = (
                v.integer(info, "scale_level", ikeys, required=True)
                if isinstance(info, Mapping)
                else None
            )
            if str(aspect) not in r.aspects:
                v.error(ikeys, f"aspect {aspect!r} is not declared by a ScalingAspects policy")
            elif level is not None and level > r.aspects[str(aspect)]["max_scale_level"]:
                v.error(
                    ikeys,
                    f"scale_level {level} > max_scale_level "
                    f"{r.aspects[str(aspect)]['max_scale_level']} of aspect {aspect}",
                )
            elif level is not None:
                scale[str(aspect)] = level
        r.levels.setdefault(
            str(level_id),
            {
                "description": v.text(body, "description", lkeys),
                "scale_info": scale,
                "keys": lkeys,
            },
        )
    default = v.text(props, "default_level", prkeys)
    if default is not None and default not in r.levels:
        v.error((*prkeys, "default_level"), f"level {default!r} is not one of the levels")
    elif default is not None:
        r.default_level = r.default_level or default


def _vdu_levels(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
) -> None:
    prkeys = (*pkeys, "properties")
    numbers: dict[str, int] = {}
    for level_id, body in (v.mapping(props, "levels", prkeys, required=True) or {}).items():
        lkeys = (*prkeys, "levels", str(level_id))
        if not isinstance(body, Mapping):
            v.error(lkeys, "must be a map with number_of_instances")
            continue
        n = v.integer(body, "number_of_instances", lkeys, required=True)
        if str(level_id) not in r.levels:
            v.error(lkeys, f"level {level_id!r} is not declared by an InstantiationLevels policy")
        elif n is not None:
            numbers[str(level_id)] = n
    for vdu in _check_targets(v, s, targets, pkeys, links=False):
        earlier = r.vdu_levels.setdefault(vdu, numbers)
        if earlier is numbers:
            r.vdu_level_keys[vdu] = {n: (*prkeys, "levels", n) for n in numbers}
        elif earlier != numbers:
            v.log.warn(
                v.where(pkeys),
                f"{vdu} already has instantiation levels {earlier} "
                f"from an earlier policy; this one ({numbers}) is ignored",
            )


def _vl_levels(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
) -> None:
    prkeys = (*pkeys, "properties")
    rates: dict[str, Bitrate] = {}
    for level_id, body in (v.mapping(props, "levels", prkeys, required=True) or {}).items():
        lkeys = (*prkeys, "levels", str(level_id))
        if not isinstance(body, Mapping):
            v.error(lkeys, "must be a map with bitrate_requirements")
            continue
        if str(level_id) not in r.levels:
            v.error(lkeys, f"level {level_id!r} is not declared by an InstantiationLevels policy")
            continue
        rates[str(level_id)] = read_bitrate(
            v, v.mapping(body, "bitrate_requirements", lkeys, required=True), lkeys
        )
    for link in _check_targets(v, s, targets, pkeys, links=True):
        r.vl_levels.setdefault(link, rates)


def _placement(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
    kind: str,
) -> None:
    scope = v.text(props, "scope", (*pkeys, "properties"), required=True)
    vdus: list[str] = []
    for target in targets:
        members = s.groups.get(target, (target,) if target in s.vdus else None)
        if members is None and target in s.refused:
            continue
        if members is None:
            v.error(
                (*pkeys, "targets"),
                f"target {target!r} is neither a VDU nor a placement group of this flavour",
            )
            continue
        vdus += [m for m in members if m in s.vdus and m not in vdus]
    if scope is not None:
        r.placement.append(PlacementRule(name, kind, scope, targets, tuple(vdus)))


def _affinity(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
) -> None:
    _placement(v, r, s, name, props, targets, pkeys, "affinity")


def _anti_affinity(
    v: Values,
    r: PolicySet,
    s: FlavourScope,
    name: str,
    props: Mapping[str, Any],
    targets: tuple[str, ...],
    pkeys: PathKey,
) -> None:
    _placement(v, r, s, name, props, targets, pkeys, "anti-affinity")


_READERS = {
    "ScalingAspects": _aspects,
    "VduScalingAspectDeltas": _aspect_deltas,
    "VduInitialDelta": _initial_delta,
    "InstantiationLevels": _levels,
    "VduInstantiationLevels": _vdu_levels,
    "VirtualLinkInstantiationLevels": _vl_levels,
    "AffinityRule": _affinity,
    "AntiAffinityRule": _anti_affinity,
}


def _check_levels(v: Values, r: PolicySet, s: FlavourScope, keys: PathKey) -> None:
    for aspect_id, aspect in r.aspects.items():
        defined = {d for per_vdu in r.aspect_deltas.get(aspect_id, {}).values() for d in per_vdu}
        for step in aspect["step_deltas"]:
            if step not in defined:
                v.log.warn(
                    v.where(aspect["keys"]),
                    f"step delta {step!r} of aspect {aspect_id}"
                    " is given for no VDU (scaling it changes nothing)",
                )


def warn_bounds(v: Values, r: PolicySet, flavour: Flavour) -> None:
    """A warning, at the number's file:line, for every initial delta, instantiation level and
    scaling aspect of ``flavour`` that asks for a count outside a VDU's ``vdu_profile``."""
    for breach in bound_breaches(flavour):
        if breach.source == "initial_delta":
            where = r.initial_delta_keys[breach.vdu]
            then = "an instantiate that starts from it will be refused"
        elif breach.source == "level":
            where = (
                r.vdu_level_keys.get(breach.vdu, {}).get(breach.ref) or r.levels[breach.ref]["keys"]
            )
            then = f"an instantiate or scale to level {breach.ref} will be refused"
        else:
            aspect = r.aspects[breach.ref]
            where = aspect["keys"]
            then = f"scaling it past level {breach.reach} will be refused"
        v.log.warn(v.where(where), f"{breach.what}; {then}")


def aspects_of(r: PolicySet) -> tuple[ScalingAspect, ...]:
    return tuple(
        ScalingAspect(
            id=aspect_id,
            name=a["name"],
            description=a["description"],
            max_scale_level=a["max_scale_level"],
            step_deltas=a["step_deltas"],
            vdu_deltas=MappingProxyType(
                {
                    vdu: MappingProxyType(dict(d))
                    for vdu, d in r.aspect_deltas.get(aspect_id, {}).items()
                }
            ),
        )
        for aspect_id, a in r.aspects.items()
    )


def levels_of(r: PolicySet) -> tuple[InstantiationLevel, ...]:
    return tuple(
        InstantiationLevel(
            id=level_id,
            description=level["description"],
            scale_info=MappingProxyType(dict(level["scale_info"])),
            vdu_instances=MappingProxyType(
                {vdu: n[level_id] for vdu, n in r.vdu_levels.items() if level_id in n}
            ),
            vl_bitrates=MappingProxyType(
                {link: b[level_id] for link, b in r.vl_levels.items() if level_id in b}
            ),
        )
        for level_id, level in r.levels.items()
    )
