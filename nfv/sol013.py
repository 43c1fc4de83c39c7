"""ETSI SOL013 helpers the hub's SOL005/SOL003 routes call: attribute filters, attribute
selectors and the ``Version`` header. Pure functions, no I/O.

**Attribute filter** (``?filter=``, SOL013 §5.2): ``(op,attr/path,v1[,v2...])`` expressions
joined by ``;``, all of which must hold.

* Single-value ops ``eq neq gt gte lt lte`` take exactly one value; multi-value ops
  ``in nin cont ncont`` one or more. ``cont`` is a substring test on strings.
* In attribute names ``~1`` is ``/`` and ``~0`` is ``~``; in values ``~a`` is ``,``, ``~b``
  is ``)`` and ``~0`` is ``~``; an unquoted value ends at the next ``,`` or ``)``. A value
  in single quotes may hold ``,`` and ``)`` as they are; ``''`` is a quote inside it.
* A path step ``@key`` stands for the keys of the map reached so far
  (``(eq,extensions/@key,site)``).
* A list on the path is searched element by element: the expression holds if any element
  matches (``neq``, ``nin`` and ``ncont`` hold if none does). An attribute that is absent
  matches nothing, so an unknown attribute gives an empty list.
* Values are compared as the attribute's type: numbers numerically, ``true``/``false`` as
  booleans, everything else as text (a value that cannot be that type matches nothing,
  except that ``gt``/``lt`` on a number with a non-number is :class:`InvalidInput`).

:func:`parse_filter` raises :class:`~atoll.errors.InvalidInput` naming the bad part and
nothing else, whatever the text (a hypothesis fuzz test holds it to that).

**Attribute selectors** (§5.3): ``all_fields`` alone; ``fields`` or ``exclude_fields`` (not
both); ``exclude_default`` not with ``exclude_fields``. Unless ``all_fields`` or
``exclude_fields`` is given, the resource's default-excluded attributes are left out, and
``fields`` brings back what it names (``instantiatedVnfInfo/vnfcResourceInfo``).
:func:`parse_selector` checks, :meth:`Selector.apply` cuts a record down, given the
resource's default-excluded attributes (:data:`VNF_INSTANCE_DEFAULT_EXCLUDED`,
:data:`OP_OCC_DEFAULT_EXCLUDED`).

**Version header** (§4.2, Tacker's answers): missing or malformed → 400, a version not
served → 406 (:class:`~atoll.nfv.errors.VersionNotSupported`); ``2.0.0-impl:vendor`` is
``2.0.0``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from atoll.errors import InvalidInput, Problem
from atoll.nfv.errors import VersionNotSupported

SINGLE_OPS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte"})
MULTI_OPS = frozenset({"in", "nin", "cont", "ncont"})
NEGATIVE = {"neq": "eq", "nin": "in", "ncont": "cont"}
MAX_FILTER = 8192
KEY = "@key"

VNF_INSTANCE_DEFAULT_EXCLUDED = (
    "vnfConfigurableProperties",
    "vimConnectionInfo",
    "instantiatedVnfInfo",
    "metadata",
    "extensions",
)
OP_OCC_DEFAULT_EXCLUDED = (
    "operationParams",
    "error",
    "resourceChanges",
    "changedInfo",
    "changedExtConnectivity",
)


@dataclass(frozen=True)
class Expr:
    """One filter expression: ``op`` on the attribute at ``path`` against ``values``."""

    op: str
    path: tuple[str, ...]
    values: tuple[str, ...]
    text: str  # as written, for messages

    def holds(self, record: object) -> bool:
        leaves = list(_walk(record, self.path))
        if self.op in NEGATIVE:
            positive = NEGATIVE[self.op]
            return bool(leaves) and not any(self._one(positive, leaf) for leaf in leaves)
        return any(self._one(self.op, leaf) for leaf in leaves)

    def _one(self, op: str, leaf: object) -> bool:
        if op in ("eq", "in"):
            return any(_coerce(leaf, v) == leaf for v in self.values if _fits(leaf, v))
        if op == "cont":
            return isinstance(leaf, str) and any(v in leaf for v in self.values)
        value = self.values[0]
        if isinstance(leaf, (bool, Mapping, list)) or leaf is None:
            return False
        if isinstance(leaf, (int, float)):
            if not _fits(leaf, value):
                raise InvalidInput(
                    "the filter compares a number with text",
                    [Problem(f"filter: {self.text}", f"{value!r} is not a number")],
                )
            number = float(value)
            return {"gt": leaf > number, "gte": leaf >= number, "lt": leaf < number}.get(
                op, leaf <= number
            )
        text = str(leaf)
        return {"gt": text > value, "gte": text >= value, "lt": text < value}.get(op, text <= value)


def _fits(leaf: object, value: str) -> bool:
    if isinstance(leaf, bool):
        return value in ("true", "false")
    if isinstance(leaf, (int, float)):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return True


def _coerce(leaf: object, value: str) -> object:
    if isinstance(leaf, bool):
        return value == "true"
    if isinstance(leaf, (int, float)):
        return float(value)
    if leaf is None:
        return None if value == "null" else value
    return value


def _walk(value: object, path: tuple[str, ...]) -> Iterable[object]:
    if isinstance(value, list):
        for item in value:
            yield from _walk(item, path)
        return
    if not path:
        yield value
        return
    step, rest = path[0], path[1:]
    if not isinstance(value, Mapping):
        return
    if step == KEY:
        for key in value:
            yield from _walk(key, rest)
        return
    if step in value:
        yield from _walk(value[step], rest)


# -- parsing ---------------------------------------------------------------------------------


def _bad(text: str, what: str) -> InvalidInput:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return InvalidInput("the attribute filter is not valid", [Problem(f"filter: {shown}", what)])


def _unescape(text: str, escapes: Mapping[str, str], part: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "~":
            code = text[i + 1 : i + 2]
            if code not in escapes:
                known = ", ".join(f"~{k}" for k in escapes)
                raise _bad(part, f"'~{code}' is not an escape here (known: {known})")
            out.append(escapes[code])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


_NAME_ESCAPES = {"0": "~", "1": "/"}
_VALUE_ESCAPES = {"0": "~", "1": "/", "a": ",", "b": ")"}


def parse_filter(text: str) -> tuple[Expr, ...]:
    """The expressions of a ``filter`` query value (see the module docstring)."""
    if len(text) > MAX_FILTER:
        raise _bad(text, f"longer than {MAX_FILTER} characters")
    if not text:
        raise _bad(text, "is empty")
    exprs: list[Expr] = []
    i = 0
    while True:
        expr, i = _expr(text, i)
        exprs.append(expr)
        if i == len(text):
            return tuple(exprs)
        if text[i] != ";":
            raise _bad(text[i:], "expected ';' between expressions")
        i += 1


def _expr(text: str, start: int) -> tuple[Expr, int]:
    if text[start : start + 1] != "(":
        raise _bad(text[start:], "an expression starts with '('")
    i = start + 1
    parts: list[tuple[str, bool]] = []  # (raw text, was quoted)
    while True:
        raw, quoted, i = _item(text, i)
        parts.append((raw, quoted))
        if i >= len(text):
            raise _bad(text[start:], "missing ')'")
        if text[i] == ")":
            i += 1
            break
        i += 1  # a ','
    written = text[start:i]
    if len(parts) < 3:
        raise _bad(written, "an expression is (op,attribute,value[,value...])")
    (op, op_quoted), (attr, attr_quoted) = parts[0], parts[1]
    if op_quoted or op not in SINGLE_OPS | MULTI_OPS:
        ops = ", ".join(sorted(SINGLE_OPS | MULTI_OPS))
        raise _bad(written, f"{op!r} is not an operator (known: {ops})")
    values = tuple(
        raw if quoted else _unescape(raw, _VALUE_ESCAPES, written) for raw, quoted in parts[2:]
    )
    if op in SINGLE_OPS and len(values) != 1:
        raise _bad(written, f"{op} takes exactly one value, not {len(values)}")
    if attr_quoted or not attr:
        raise _bad(written, "the attribute must be a name (a/b/c)")
    path = tuple(_unescape(step, _NAME_ESCAPES, written) for step in attr.split("/"))
    if any(not step for step in path):
        raise _bad(written, f"{attr!r} has an empty step")
    return Expr(op, path, values, written), i


def _item(text: str, i: int) -> tuple[str, bool, int]:
    """One comma-separated item from ``i``: (text, quoted, index of the ',' or ')' after)."""
    if text[i : i + 1] == "'":
        out: list[str] = []
        j = i + 1
        while True:
            if j >= len(text):
                raise _bad(text[i:], "a quoted value is not closed")
            if text[j] == "'":
                if text[j + 1 : j + 2] == "'":
                    out.append("'")
                    j += 2
                    continue
                j += 1
                break
            out.append(text[j])
            j += 1
        if j < len(text) and text[j] not in ",)":
            raise _bad(text[i:], "a quoted value ends at ',' or ')'")
        return "".join(out), True, j
    j = i
    while j < len(text) and text[j] not in ",)":
        j += 1
    return text[i:j], False, j


def select(records: Iterable[Any], filters: tuple[Expr, ...]) -> list[Any]:
    """The records (wire dicts) every expression holds for, in their order."""
    return [r for r in records if all(e.holds(r) for e in filters)]


# -- selectors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    all_fields: bool = False
    fields: tuple[tuple[str, ...], ...] = ()
    exclude_fields: tuple[tuple[str, ...], ...] = ()
    exclude_default: bool = True

    def apply(self, record: Mapping[str, Any], default_excluded: Iterable[str]) -> dict[str, Any]:
        """``record`` with what the selector leaves: everything (``all_fields``), all but
        ``exclude_fields``, or all but ``default_excluded`` plus what ``fields`` names."""
        out: dict[str, Any] = dict(record)
        if self.all_fields:
            return out
        for path in self.exclude_fields:
            _drop(out, path)
        if self.exclude_default:
            for name in default_excluded:
                out.pop(name, None)
            for path in self.fields:
                _copy(record, out, path)
        return out


def _drop(out: dict[str, Any], path: tuple[str, ...]) -> None:
    head, rest = path[0], path[1:]
    if head not in out:
        return
    if not rest:
        del out[head]
    elif isinstance(out[head], Mapping):
        inner = dict(out[head])
        _drop(inner, rest)
        out[head] = inner


def _copy(src: Mapping[str, Any], out: dict[str, Any], path: tuple[str, ...]) -> None:
    head, rest = path[0], path[1:]
    if head not in src:
        return
    if not rest or not isinstance(src[head], Mapping):
        out[head] = src[head]
        return
    inner = out.get(head)
    inner = dict(inner) if isinstance(inner, Mapping) else {}
    _copy(src[head], inner, rest)
    out[head] = inner


def parse_selector(query: Mapping[str, str]) -> Selector:
    """The selector a list query asks for; ``InvalidInput`` for combinations SOL013 forbids."""
    given = [k for k in ("all_fields", "fields", "exclude_fields", "exclude_default") if k in query]
    if "all_fields" in given and len(given) > 1:
        return _refuse("all_fields", "all_fields stands alone")
    if "fields" in given and "exclude_fields" in given:
        return _refuse("exclude_fields", "give fields or exclude_fields, not both")
    if "exclude_fields" in given and "exclude_default" in given:
        return _refuse("exclude_default", "give exclude_fields or exclude_default, not both")
    for flag in ("all_fields", "exclude_default"):
        if query.get(flag, ""):
            return _refuse(flag, "takes no value")
    return Selector(
        all_fields="all_fields" in given,
        fields=_paths(query, "fields"),
        exclude_fields=_paths(query, "exclude_fields"),
        exclude_default="all_fields" not in given and "exclude_fields" not in given,
    )


def _refuse(where: str, what: str) -> Selector:
    raise InvalidInput("the attribute selector is not valid", [Problem(where, what)])


def _paths(query: Mapping[str, str], key: str) -> tuple[tuple[str, ...], ...]:
    if key not in query:
        return ()
    out = []
    for item in query[key].split(","):
        path = tuple(_unescape(s, _NAME_ESCAPES, f"{key}={item}") for s in item.split("/"))
        if any(not step for step in path):
            _refuse(key, f"{item!r} is not an attribute path (a/b/c)")
        out.append(path)
    return tuple(out)


# -- Version header --------------------------------------------------------------------------

_VERSION = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})(-impl:[\x21-\x7e]{1,64})?")


def check_version(header: str | None, served: Iterable[str] = ("2.0.0",)) -> str:
    """The API version a request's ``Version`` header asks for, if served (see the module
    docstring); the served version it matches."""
    served = tuple(served)
    if header is None or not header.strip():
        raise InvalidInput(
            "the Version header is required",
            [Problem("headers.Version", f"send one of {', '.join(served)}")],
        )
    match = _VERSION.fullmatch(header.strip())
    if match is None:
        shown = header if len(header) <= 40 else header[:37] + "..."
        raise InvalidInput(
            "the Version header is not valid",
            [Problem("headers.Version", f"{shown!r} is not a version (like 2.0.0)")],
        )
    base = ".".join(str(int(g)) for g in match.groups()[:3])
    if base not in served:
        raise VersionNotSupported(
            f"API version {base} is not served here (served: {', '.join(served)})"
        )
    return base
