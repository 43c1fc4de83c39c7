"""The VNFD (the entry definitions and what they import) -> ``Vnfd``, one ``Flavour`` each.

Layout followed (SOL001 clause 6, as Tacker and vendors ship it): the entry file's
``topology_template`` holds the VNF node with the descriptor properties; every file whose
topology template has ``substitution_mappings`` is one deployment flavour. A single-file
VNFD (no substitution mappings anywhere) is one flavour. Node templates are classified by
type derivation, so vendor types derived from SOL001 types are understood.

Refused: unknown node types, requirements naming no node template of the flavour (or one of
the wrong kind) or repeated more often than their type's ``occurrences`` allow (a VduCp's
second ``virtual_binding``), min > max, missing required properties, bad sizes. Warned about
only: a substitution mapping naming a CP the flavour lacks (the external link stays
unmapped); an instantiation level, initial delta or scaling aspect asking for more (or fewer)
instances of a VDU than its ``vdu_profile`` allows (the operation that would go past it is
refused).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atoll.nfv import nodes
from atoll.nfv.definitions import LoadedFile
from atoll.nfv.errors import ProblemLog
from atoll.nfv.model import ExternalLink, Flavour, LcmOperation, Vnfd
from atoll.nfv.policies import FlavourScope, aspects_of, levels_of, read_policies, warn_bounds
from atoll.nfv.types import TypeLibrary
from atoll.nfv.values import Values
from atoll.nfv.yaml_loader import PathKey

N = "tosca.nodes.nfv."
KINDS = (
    (N + "VNF", "vnf"),
    (N + "Vdu.Compute", "vdu"),
    (N + "Vdu.VirtualBlockStorage", "block"),
    (N + "Vdu.VirtualObjectStorage", "object"),
    (N + "Vdu.VirtualFileStorage", "file"),
    (N + "VduCp", "cp"),
    (N + "VnfExtCp", "extcp"),
    (N + "VnfVirtualLink", "vl"),
)
STORAGE = ("block", "object", "file")
# requirement name -> kinds its target may be, per node kind
REQUIREMENT_TARGETS = {
    ("vdu", "virtual_storage"): STORAGE,
    ("cp", "virtual_binding"): ("vdu",),
    ("cp", "virtual_link"): ("vl",),
    ("extcp", "internal_virtual_link"): ("vl",),
    ("extcp", "external_virtual_link"): ("vl",),
}
VNF_STRINGS = (
    "descriptor_id",
    "descriptor_version",
    "provider",
    "product_name",
    "software_version",
)


@dataclass
class Node:
    name: str
    type: str
    kind: str | None
    body: Mapping[str, Any]
    keys: PathKey


@dataclass
class Topology:
    """One file's ``topology_template``: its node templates, classified."""

    v: Values
    body: Mapping[str, Any]
    nodes: dict[str, Node]
    unknown: frozenset[str]  # templates of unknown type: already reported, not re-reported


def _topology(v: Values, library: TypeLibrary) -> Topology | None:
    data = v.doc.data
    body = data.get("topology_template") if isinstance(data, Mapping) else None
    if body is None:
        return None
    if not isinstance(body, Mapping):
        v.error(("topology_template",), "must be a map")
        return None
    raw = v.mapping(body, "node_templates", ("topology_template",)) or {}
    found: dict[str, Node] = {}
    unknown: set[str] = set()
    for raw_name, node in raw.items():
        name = str(raw_name)
        keys: PathKey = ("topology_template", "node_templates", name)
        if not isinstance(node, Mapping):
            v.error(keys, "a node template must be a map")
            continue
        kind_name = node.get("type")
        if not isinstance(kind_name, str) or kind_name not in library:
            unknown.add(name)
            v.error(
                (*keys, "type"),
                f"node type {kind_name!r} is not defined in the package or the SOL001 type library",
            )
            continue
        kind = next((k for base, k in KINDS if library.derives_from(kind_name, base)), None)
        found[name] = Node(name, kind_name, kind, node, keys)
    return Topology(v, body, found, frozenset(unknown))


def build_vnfd(
    loaded: list[LoadedFile], library: TypeLibrary, files: frozenset[str], log: ProblemLog
) -> Vnfd | None:
    topologies = []
    for item in loaded:
        if item.source != "package":
            continue
        topo = _topology(Values(item.doc, log), library)
        if topo is not None:
            topologies.append(topo)
    if not loaded or not topologies:
        where = loaded[0].doc.path if loaded else "(package)"
        log.error(where, "declares no topology_template: there is no VNF to deploy")
        return None
    entry = topologies[0] if topologies[0].v.doc is loaded[0].doc else None
    flavoured = [t for t in topologies if "substitution_mappings" in t.body]
    if not flavoured:
        flavoured = [topologies[0]]
    vnf = _vnf_node(entry, flavoured)
    if vnf is None:
        log.error(
            loaded[0].doc.path,
            "declares no VNF node (a node template whose type derives from tosca.nodes.nfv.VNF)",
        )
        return None
    top, vnf_node = vnf
    props = _vnf_properties(top, vnf_node, library)
    flavours: list[Flavour] = []
    for topo in flavoured:
        flavour = _flavour(topo, library, files, props, vnf_node.type)
        if flavour is None:
            continue
        if any(f.id == flavour.id for f in flavours):
            log.error(topo.v.doc.path, f"flavour {flavour.id!r} is declared twice")
            continue
        flavours.append(flavour)
    strings = {k: top.v.text(props, k, vnf_node.keys, required=True) for k in VNF_STRINGS}
    vnfm_info = top.v.strings(props, "vnfm_info", vnf_node.keys, required=True)
    if not vnfm_info and isinstance(props.get("vnfm_info"), list):
        top.v.error((*vnf_node.keys, "properties"), "vnfm_info must name at least one VNFM")
    if any(s is None for s in strings.values()) or not vnfm_info or not flavours:
        return None
    description = top.v.doc.data.get("description")
    return Vnfd(
        descriptor_id=str(strings["descriptor_id"]),
        descriptor_version=str(strings["descriptor_version"]),
        provider=str(strings["provider"]),
        product_name=str(strings["product_name"]),
        software_version=str(strings["software_version"]),
        vnfm_info=vnfm_info,
        vnf_type=vnf_node.type,
        description=description if isinstance(description, str) else None,
        flavours=tuple(flavours),
    )


def _vnf_node(entry: Topology | None, flavoured: list[Topology]) -> tuple[Topology, Node] | None:
    for topo in ([entry] if entry else []) + flavoured:
        for node in topo.nodes.values():
            if node.kind == "vnf":
                return topo, node
    return None


def _literal(value: Any) -> bool:
    """Not a TOSCA function such as ``{get_input: selected_flavour}``."""
    return not (
        isinstance(value, Mapping) and len(value) == 1 and str(next(iter(value))).startswith("get_")
    )


def _vnf_properties(top: Topology, node: Node, library: TypeLibrary) -> dict[str, Any]:
    props = library.property_defaults(node.type)
    raw = top.v.mapping(node.body, "properties", node.keys) or {}
    props.update({str(k): v for k, v in raw.items() if _literal(v)})
    return props


def _flavour_header(
    topo: Topology, library: TypeLibrary, vnf_props: Mapping[str, Any]
) -> tuple[str | None, Node | None, dict[str, Any], Mapping[str, Any]]:
    """(flavour id, the flavour's VNF node, its merged VNF properties, substitution mapping)."""
    v = topo.v
    mapping = v.mapping(topo.body, "substitution_mappings", ("topology_template",)) or {}
    mkeys: PathKey = ("topology_template", "substitution_mappings")
    node_type = mapping.get("node_type")
    if mapping and (not isinstance(node_type, str) or node_type not in library):
        v.error(
            (*mkeys, "node_type"),
            f"node type {node_type!r} is not defined in the package or the SOL001 type library",
        )
    elif isinstance(node_type, str) and not library.derives_from(node_type, N + "VNF"):
        v.error((*mkeys, "node_type"), f"{node_type} does not derive from tosca.nodes.nfv.VNF")
    local_vnf = next((n for n in topo.nodes.values() if n.kind == "vnf"), None)
    local_props: dict[str, Any] = dict(vnf_props)
    if local_vnf is not None:
        raw = v.mapping(local_vnf.body, "properties", local_vnf.keys) or {}
        local_props.update({str(k): val for k, val in raw.items() if _literal(val)})
    mapped = v.mapping(mapping, "properties", mkeys) or {}
    flavour_id = mapped.get("flavour_id", local_props.get("flavour_id"))
    if not isinstance(flavour_id, str) or not flavour_id:
        v.error(mkeys, "the flavour has no flavour_id (substitution_mappings.properties)")
        return None, local_vnf, local_props, mapping
    return flavour_id, local_vnf, local_props, mapping


def _flavour(
    topo: Topology,
    library: TypeLibrary,
    files: frozenset[str],
    vnf_props: Mapping[str, Any],
    vnf_type: str,
) -> Flavour | None:
    v = topo.v
    flavour_id, local_vnf, local_props, mapping = _flavour_header(topo, library, vnf_props)
    if flavour_id is None:
        return None
    _check_requirements(topo, library)
    built = _build_nodes(topo, files)
    external = _external_links(v, mapping, ("topology_template", "substitution_mappings"), topo)
    by_node = {e.node: e.name for e in external if e.node is not None}
    vdus = {vdu.id: vdu for vdu in built["vdu"]}
    link_ids = {link.id for link in built["vl"]}
    refused = {n for n, node in topo.nodes.items() if node.kind in ("vdu", "vl")}
    scope = FlavourScope(
        vdus=vdus,
        links=frozenset(link_ids),
        groups=_groups(v, topo),
        refused=topo.unknown | (refused - set(vdus) - link_ids),
    )
    policies = read_policies(
        v, topo.body.get("policies", []), ("topology_template", "policies"), library, scope
    )
    for vdu_id, delta in policies.initial_deltas.items():
        vdus[vdu_id] = dataclasses.replace(vdus[vdu_id], initial_delta=delta)
    description = local_props.get("flavour_description")
    flavour = Flavour(
        id=flavour_id,
        description=str(description) if description is not None else "",
        source=v.doc.path,
        vdus=tuple(vdus.values()),
        storages=tuple(built["storage"]),
        cps=tuple(_with_external(cp, by_node) for cp in built["cp"]),
        ext_cps=tuple(_with_external(cp, by_node) for cp in built["extcp"]),
        virtual_links=tuple(built["vl"]),
        external_links=tuple(external),
        aspects=aspects_of(policies),
        instantiation_levels=levels_of(policies),
        default_level=policies.default_level,
        placement_rules=tuple(policies.placement),
        policies=tuple(policies.policies),
        lcm_operations=_lcm_operations(v, local_vnf, library, vnf_type),
    )
    warn_bounds(v, policies, flavour)
    return flavour


def _with_external(cp: Any, by_node: Mapping[str, str]) -> Any:
    name = by_node.get(cp.id)
    return dataclasses.replace(cp, external_link=name) if name else cp


def _build_nodes(topo: Topology, files: frozenset[str]) -> dict[str, list[Any]]:
    v = topo.v
    out: dict[str, list[Any]] = {"vdu": [], "storage": [], "cp": [], "extcp": [], "vl": []}
    for node in topo.nodes.values():
        built: Any = None
        if node.kind == "vdu":
            built = nodes.read_vdu(v, node.name, node.body, node.keys, files)
        elif node.kind in STORAGE:
            built = nodes.read_storage(v, node.name, str(node.kind), node.body, node.keys, files)
        elif node.kind == "cp":
            built = nodes.read_vdu_cp(v, node.name, node.body, node.keys)
        elif node.kind == "extcp":
            built = nodes.read_ext_cp(v, node.name, node.body, node.keys)
        elif node.kind == "vl":
            built = nodes.read_virtual_link(v, node.name, node.body, node.keys)
        if built is None:
            continue
        group = "storage" if node.kind in STORAGE else str(node.kind)
        out[group].append(built)
        image = getattr(built, "sw_image", None)
        if image is not None and image.artifact and not image.artifact_present:
            v.log.warn(
                v.where(node.keys),
                f"image artifact {image.artifact} is not in the "
                "package: map an image already in the catalog to onboard it",
            )
    return out


def _check_requirements(topo: Topology, library: TypeLibrary) -> None:
    """Every requirement names a node template of this flavour, of a kind that fits, and is
    given no more often than its type allows (a VduCp binds one VDU and joins one link)."""
    v = topo.v
    for node in topo.nodes.values():
        given = nodes.requirements(v, node.body, node.keys)
        _check_occurrences(v, library, node, given)
        for req in given:
            target = topo.nodes.get(req.target)
            if target is None and req.target in topo.unknown:
                continue
            if target is None:
                v.error(
                    req.keys,
                    f"requirement {req.name} names {req.target!r}, which is not "
                    "a node template of this flavour",
                )
                continue
            kinds = REQUIREMENT_TARGETS.get((str(node.kind), req.name))
            if kinds is not None and target.kind not in kinds:
                v.error(
                    req.keys,
                    f"requirement {req.name} names {req.target!r}, a "
                    f"{target.type}, where {' or '.join(kinds)} is expected",
                )


def _check_occurrences(
    v: Values, library: TypeLibrary, node: Node, given: list[nodes.Requirement]
) -> None:
    """A requirement repeated past its type's ``occurrences`` is refused at the repeat, never
    reduced to its first target."""
    by_name: dict[str, list[nodes.Requirement]] = {}
    for req in given:
        by_name.setdefault(req.name, []).append(req)
    for name, reqs in by_name.items():
        bound = library.requirement_bound(node.type, name) if len(reqs) > 1 else None
        if bound is None or len(reqs) <= bound[0]:
            continue
        most, type_name = bound
        who = "SOL001" if type_name.startswith("tosca.") else type_name
        allowed = "once" if most == 1 else f"at most {most} times"
        v.error(
            reqs[most].keys,
            f"requirement {name} is given {len(reqs)} times; {who} allows it {allowed}",
        )


def _external_links(
    v: Values, mapping: Mapping[str, Any], mkeys: PathKey, topo: Topology
) -> list[ExternalLink]:
    reqs = v.mapping(mapping, "requirements", mkeys) or {}
    out = []
    for name, target in reqs.items():
        rkeys = (*mkeys, "requirements", str(name))
        if target in ([], None):
            out.append(ExternalLink(str(name), None, None))
            continue
        if (
            not isinstance(target, list)
            or len(target) != 2
            or not all(isinstance(t, str) for t in target)
        ):
            v.error(rkeys, "must be [node_template, requirement]")
            continue
        if target[0] not in topo.nodes:
            # Seen in a real package (Tacker's free5gc sample): an external link mapped to a
            # CP the flavour does not declare. Nothing can attach to it, but nothing breaks
            # either, so it is recorded unmapped and warned about rather than refused.
            v.log.warn(
                v.where(rkeys),
                f"maps to {target[0]!r}, which is not a node template "
                "of this flavour; the external link is left unmapped",
            )
            out.append(ExternalLink(str(name), None, None))
            continue
        out.append(ExternalLink(str(name), target[0], target[1]))
    return out


def _groups(v: Values, topo: Topology) -> dict[str, tuple[str, ...]]:
    raw = v.mapping(topo.body, "groups", ("topology_template",)) or {}
    out = {}
    for name, body in raw.items():
        gkeys: PathKey = ("topology_template", "groups", str(name))
        if not isinstance(body, Mapping):
            v.error(gkeys, "a group must be a map")
            continue
        members = v.strings(body, "members", gkeys)
        for member in members:
            if member not in topo.nodes and member not in topo.unknown:
                v.error(
                    (*gkeys, "members"), f"member {member!r} is not a node template of this flavour"
                )
        out[str(name)] = tuple(m for m in members if m in topo.nodes)
    return out


def _lcm_operations(
    v: Values, vnf: Node | None, library: TypeLibrary, vnf_type: str
) -> tuple[LcmOperation, ...]:
    ops: dict[tuple[str, str], LcmOperation] = {}
    for name in library.interface_operations(vnf_type, "Vnflcm"):
        ops[("Vnflcm", name)] = LcmOperation("Vnflcm", name, None, None)
    if vnf is None:
        return tuple(ops.values())
    ifaces = v.mapping(vnf.body, "interfaces", vnf.keys) or {}
    artifacts = vnf.body.get("artifacts")
    artifacts = artifacts if isinstance(artifacts, Mapping) else {}
    for iface, body in ifaces.items():
        if not isinstance(body, Mapping):
            v.error((*vnf.keys, "interfaces", str(iface)), "must be a map of operations")
            continue
        for op, definition in body.items():
            if op in ("type", "inputs"):
                continue
            impl = definition.get("implementation") if isinstance(definition, Mapping) else None
            impl = impl if isinstance(impl, str) else None
            art = artifacts.get(impl) if impl else None
            file = art.get("file") if isinstance(art, Mapping) else None
            ops[(str(iface), str(op))] = LcmOperation(
                str(iface), str(op), impl, file if isinstance(file, str) else None
            )
    return tuple(ops.values())
