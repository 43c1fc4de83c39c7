"""The TOSCA type library of one package: every type its files (and the bundled SOL001
files it imports) define, with derivation followed.

A vendor's ``company.provider.VNF`` derived from ``tosca.nodes.nfv.VNF`` is understood as a
VNF; a node template whose type nobody defines, a ``derived_from`` naming an unknown type and
a derivation cycle are problems. The TOSCA Simple Profile normative roots the SOL001 files
derive from (``tosca.nodes.Root`` and friends) are known without a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atoll.nfv.errors import ProblemLog
from atoll.nfv.yaml_loader import YamlDocument

SECTIONS = (
    "data_types",
    "artifact_types",
    "capability_types",
    "interface_types",
    "relationship_types",
    "node_types",
    "group_types",
    "policy_types",
)

# TOSCA Simple Profile YAML 1.2 normative types SOL001 builds on, and the primitive types.
NORMATIVE = frozenset(
    {
        "tosca.nodes.Root",
        "tosca.datatypes.Root",
        "tosca.capabilities.Root",
        "tosca.capabilities.Node",
        "tosca.relationships.Root",
        "tosca.relationships.DependsOn",
        "tosca.interfaces.Root",
        "tosca.interfaces.node.lifecycle.Standard",
        "tosca.artifacts.Root",
        "tosca.artifacts.File",
        "tosca.artifacts.Deployment",
        "tosca.artifacts.Deployment.Image",
        "tosca.artifacts.Deployment.Image.VM",
        "tosca.artifacts.Implementation",
        "tosca.artifacts.Implementation.Bash",
        "tosca.artifacts.Implementation.Python",
        "tosca.groups.Root",
        "tosca.policies.Root",
        "tosca.policies.Placement",
        "tosca.policies.Scaling",
        "tosca.policies.Update",
        "tosca.policies.Performance",
    }
)
PRIMITIVES = frozenset(
    {
        "string",
        "integer",
        "float",
        "boolean",
        "timestamp",
        "null",
        "version",
        "range",
        "list",
        "map",
        "scalar-unit.size",
        "scalar-unit.time",
        "scalar-unit.frequency",
        "scalar-unit.bitrate",
    }
)


@dataclass(frozen=True)
class TypeDef:
    name: str
    section: str
    derived_from: str | None
    body: Mapping[str, Any]
    where: str


class TypeLibrary:
    """Types by name; lookups follow ``derived_from`` up to the normative roots."""

    def __init__(self, types: Mapping[str, TypeDef]) -> None:
        self._types = dict(types)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._types or name in NORMATIVE)

    def get(self, name: str) -> TypeDef | None:
        return self._types.get(name)

    def chain(self, name: str) -> list[str]:
        """``name`` and its ancestors, nearest first (stops at unknown types and cycles)."""
        out: list[str] = []
        current: str | None = name
        while current is not None and current not in out:
            out.append(current)
            typedef = self._types.get(current)
            current = typedef.derived_from if typedef else None
        return out

    def derives_from(self, name: str, base: str) -> bool:
        return base in self.chain(name)

    def property_defaults(self, name: str) -> dict[str, Any]:
        """Declared property defaults along the chain; a derived type overrides its parent."""
        out: dict[str, Any] = {}
        for type_name in reversed(self.chain(name)):
            typedef = self._types.get(type_name)
            props = typedef.body.get("properties") if typedef else None
            if isinstance(props, Mapping):
                for key, decl in props.items():
                    if isinstance(decl, Mapping) and "default" in decl:
                        out[str(key)] = decl["default"]
        return out

    def requirement_bound(self, name: str, requirement: str) -> tuple[int, str] | None:
        """(most occurrences allowed, the type that says so) of ``requirement`` on a node of
        type ``name``: the smallest upper bound any type along the chain declares (a derived
        type may narrow ``occurrences``, never widen them); None when every declaration is
        ``UNBOUNDED`` or gives no ``occurrences``, or none declares the requirement."""
        found: tuple[int, str] | None = None
        for type_name in self.chain(name):
            typedef = self._types.get(type_name)
            declared = typedef.body.get("requirements") if typedef else None
            for item in declared if isinstance(declared, list) else []:
                body = item.get(requirement) if isinstance(item, Mapping) else None
                occurrences = body.get("occurrences") if isinstance(body, Mapping) else None
                if not isinstance(occurrences, list) or len(occurrences) != 2:
                    continue
                upper = occurrences[1]
                if isinstance(upper, bool) or not isinstance(upper, int):
                    continue
                if found is None or upper < found[0]:
                    found = (upper, type_name)
        return found

    def interface_operations(self, name: str, interface: str) -> list[str]:
        """Operation names a node type (or its parents) lists under ``interfaces.NAME``."""
        ops: list[str] = []
        for type_name in reversed(self.chain(name)):
            typedef = self._types.get(type_name)
            ifaces = typedef.body.get("interfaces") if typedef else None
            body = ifaces.get(interface) if isinstance(ifaces, Mapping) else None
            if isinstance(body, Mapping):
                ops += [str(k) for k in body if k not in ("type", "inputs") and str(k) not in ops]
        return ops


def build_type_library(docs: list[YamlDocument], log: ProblemLog) -> TypeLibrary:
    """Collect every type of every loaded file, then check derivation."""
    types: dict[str, TypeDef] = {}
    for doc in docs:
        if not isinstance(doc.data, Mapping):
            continue
        for section in SECTIONS:
            defs = doc.data.get(section)
            if defs is None:
                continue
            if not isinstance(defs, Mapping):
                log.error(doc.where((section,)), "must be a map of type names to definitions")
                continue
            for raw_name, body in defs.items():
                name = str(raw_name)
                where = doc.where((section, name))
                if not isinstance(body, Mapping):
                    log.error(where, "a type definition must be a map")
                    continue
                parent = body.get("derived_from")
                if parent is not None and not isinstance(parent, str):
                    log.error(where + ".derived_from", "must be a type name")
                    parent = None
                types.setdefault(name, TypeDef(name, section, parent, body, where))
    library = TypeLibrary(types)
    for typedef in types.values():
        _check_derivation(library, typedef, log)
    return library


def _check_derivation(library: TypeLibrary, typedef: TypeDef, log: ProblemLog) -> None:
    parent = typedef.derived_from
    if parent is None or parent in NORMATIVE:
        return
    if parent not in library or parent in PRIMITIVES:
        if parent not in PRIMITIVES:
            log.error(
                typedef.where + ".derived_from",
                f"type {parent!r} is not defined in the package or the SOL001 type library",
            )
        return
    chain = library.chain(typedef.name)
    last = library.get(chain[-1])
    if last is not None and last.derived_from in chain:
        log.error(typedef.where + ".derived_from", f"derivation cycle: {' -> '.join(chain)}")
