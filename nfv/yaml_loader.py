"""Safe YAML for untrusted package files: size, alias and expansion limits, line-aware paths.

PyYAML's safe loader never runs code, but it will happily expand a "billion laughs" alias
bomb once a caller walks the result, and it accepts any byte soup it can decode. Here every
file is checked before a single Python object is built:

* the raw size against ``YamlLimits.max_bytes``;
* strict UTF-8 (a BOM is allowed) — the offset of the first bad byte is reported;
* the composed node graph: alias uses, the fully expanded node count, nesting depth and
  recursive aliases, all bounded;
* with a :class:`YamlBudget`, the bytes and expanded nodes of all the files of one VNFD
  together (a VNFD imports the others; each within the limits of one file, a hundred of
  them would still be a hundred times that much held at once).

The result keeps the line of every mapping key and sequence item, so a problem found later
in the data can say ``Definitions/df.yaml:63: topology_template.node_templates.VDU1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml

from atoll.nfv.errors import ProblemLog

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlLimits:
    """Bounds for one YAML file; the defaults are far above any real VNFD (a few hundred KiB)."""

    max_bytes: int = 8 * 1024 * 1024
    max_aliases: int = 1000
    max_nodes: int = 500_000
    max_depth: int = 200
    # all the files of one VNFD together (:class:`YamlBudget`): as much as one file may be
    max_total_bytes: int = 8 * 1024 * 1024
    max_total_nodes: int = 500_000


class YamlBudget:
    """What the files of one VNFD may still use of ``max_total_bytes`` and
    ``max_total_nodes``; :func:`load_yaml` refuses the file that would cross either, before
    it builds a Python object of it, and spends what a file it loads used."""

    __slots__ = ("bytes_left", "limits", "nodes_left")

    def __init__(self, limits: YamlLimits) -> None:
        self.limits = limits
        self.bytes_left = limits.max_total_bytes
        self.nodes_left = limits.max_total_nodes

    @property
    def spent(self) -> bool:
        return self.bytes_left <= 0 or self.nodes_left <= 0

    def over_bytes(self, path: str, size: int, log: ProblemLog) -> bool:
        """Whether ``size`` more bytes would cross the budget (logged against ``path``)."""
        if size <= self.bytes_left:
            return False
        self.bytes_left = 0
        total = self.limits.max_total_bytes
        log.error(path, f"takes the VNFD's YAML over {total} bytes in all (its files together)")
        return True


@dataclass(frozen=True)
class YamlDocument:
    """One parsed YAML file: its package path, the data, and where each key sits."""

    path: str
    data: Any
    lines: Mapping[PathKey, int] = field(default_factory=lambda: MappingProxyType({}))

    def where(self, keys: PathKey = ()) -> str:
        """``file:line: dotted.path`` for ``keys``, using the nearest known line."""
        line = 0
        for end in range(len(keys), 0, -1):
            line = self.lines.get(keys[:end], 0)
            if line:
                break
        dotted = dotted_path(keys)
        head = f"{self.path}:{line}" if line else self.path
        return f"{head}: {dotted}" if dotted else head


def dotted_path(keys: PathKey) -> str:
    out = ""
    for key in keys:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += f".{key}" if out else str(key)
    return out


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """The safe loader, with YAML 1.1 timestamps left as strings (TOSCA treats them as text)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in _Loader.yaml_implicit_resolvers.copy().items()
}


def decode_utf8(path: str, raw: bytes, log: ProblemLog) -> str | None:
    """The text of ``raw``, or ``None`` with a problem naming the first invalid byte."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        log.error(path, f"is not valid UTF-8 (byte 0x{bad} at offset {exc.start})")
        return None
    return text.removeprefix("\ufeff")


def load_yaml(
    path: str,
    raw: bytes,
    log: ProblemLog,
    limits: YamlLimits | None = None,
    budget: YamlBudget | None = None,
) -> YamlDocument | None:
    """Parse one untrusted YAML file; on any problem, log it and return ``None``. With a
    ``budget``, the file is also held to what the other files of its VNFD left of it."""
    limits = limits or YamlLimits()
    if len(raw) > limits.max_bytes:
        log.error(path, f"is {len(raw)} bytes, over the {limits.max_bytes}-byte limit for YAML")
        return None
    if budget is not None and budget.over_bytes(path, len(raw), log):
        return None
    text = decode_utf8(path, raw, log)
    if text is None:
        return None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(path, None)
        checked = _check_graph(path, node, limits, log, budget)
        if checked is None:
            return None
        lines, nodes = checked
        if budget is not None:
            budget.bytes_left -= len(raw)
            budget.nodes_left -= nodes
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        log.error(f"{path}{line}", f"is not valid YAML: {exc.problem or exc.context}")
        return None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        log.error(path, f"is not valid YAML: {exc}")
        return None
    finally:
        loader.dispose()
    return YamlDocument(path, data, MappingProxyType(lines))


def _children(node: yaml.Node) -> list[tuple[str | int | None, yaml.Node, yaml.Node | None]]:
    """(key, value node, key node) for each child of a collection node."""
    if isinstance(node, yaml.MappingNode):
        out: list[tuple[str | int | None, yaml.Node, yaml.Node | None]] = []
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            out.append((key, key_node, None))
            out.append((key, value_node, key_node))
        return out
    if isinstance(node, yaml.SequenceNode):
        return [(i, item, None) for i, item in enumerate(node.value)]
    return []


def _check_graph(
    path: str, root: yaml.Node, limits: YamlLimits, log: ProblemLog, budget: YamlBudget | None
) -> tuple[dict[PathKey, int], int] | None:
    """Bound aliases, expansion and depth; return the line of every key path, and the
    number of nodes the file expands to."""
    lines: dict[PathKey, int] = {}
    seen: set[int] = set()
    aliases = 0
    expanded = 0
    # Iterative walk: (node, key path, depth, whether its subtree is reached through an alias).
    stack: list[tuple[yaml.Node, PathKey, int, bool]] = [(root, (), 0, False)]
    while stack:
        node, keys, depth, via_alias = stack.pop()
        expanded += 1
        if expanded > limits.max_nodes:
            log.error(path, f"expands to more than {limits.max_nodes} YAML nodes (an alias bomb?)")
            return None
        if depth > limits.max_depth:
            log.error(
                path, f"nests deeper than {limits.max_depth} levels (or an alias refers to itself)"
            )
            return None
        if id(node) in seen and isinstance(node, yaml.CollectionNode):
            aliases += 1
            if aliases > limits.max_aliases:
                log.error(path, f"uses more than {limits.max_aliases} YAML aliases")
                return None
            via_alias = True
        seen.add(id(node))
        if not via_alias and isinstance(node, yaml.MappingNode):
            _check_duplicate_keys(path, node, keys, log)
        for key, child, key_node in _children(node):
            if key_node is None and isinstance(node, yaml.MappingNode):
                continue  # a key node: counted through its value below
            child_keys = (*keys, key) if key is not None else keys
            if not via_alias:
                anchor = key_node if key_node is not None else child
                lines.setdefault(child_keys, anchor.start_mark.line + 1)
            stack.append((child, child_keys, depth + 1, via_alias))
    if budget is not None and expanded > budget.nodes_left:  # the file alone is within bounds
        budget.nodes_left = 0
        log.error(path, f"takes the VNFD over {limits.max_total_nodes} YAML nodes in all "
                        "(its files together)")  # fmt: skip
        return None
    return lines, expanded


def _check_duplicate_keys(
    path: str, node: yaml.MappingNode, keys: PathKey, log: ProblemLog
) -> None:
    """YAML says keys are unique; PyYAML keeps the last silently, hiding a vendor's typo."""
    names: set[str] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
            continue
        if key_node.value in names:
            dotted = dotted_path((*keys, key_node.value))
            log.error(
                f"{path}:{key_node.start_mark.line + 1}", f"{dotted}: key appears twice in a map"
            )
        names.add(key_node.value)
