"""The one decoder and encoder behind every model in :mod:`atoll.resources`.

A model is a frozen dataclass whose annotations say what each field holds; this module turns
plain wire values (msgpack/JSON-safe: dict, list, str, int, float, bool, None) into a model
and back, and nothing else does. Supported annotations: ``str``, ``int``, ``float``, ``bool``,
``X | None``, ``Literal[...]``, ``tuple[X, ...]``, ``Mapping[str, X]`` and nested models.
Bounds ride on the field's metadata (:func:`bounded`).

A field's key on the wire is its name, unless the model says otherwise: a model class with
``WIRE_CASE = "camel"`` writes ``vnf_instance_id`` as ``vnfInstanceId`` (the ETSI SOL shapes),
and a field's own metadata ``wire_name(...)`` names its key outright (``_links``). A model
class with ``OMIT_NONE = True`` leaves its unset optional fields out on the wire instead of
writing ``null`` (SOL013: an absent attribute is not sent). Problem
paths use the wire keys, so they name what the client wrote.

Decoding never stops at the first problem: it returns every :class:`~atoll.errors.Problem`
with its path (``spec.nics[1].network``), so a client fixes all of them at once. Keys the
model does not know are *kept* (``Model.extra``) when ``strict`` is false, so an older peer
passes a newer peer's fields back unchanged; with ``strict`` they are reported, which is
what an API wants of a person's request.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from atoll.errors import Problem
from atoll.printable import is_printable, is_unicode

EXTRA = "extra"
_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Bounds:
    low: float | None = None  # numbers: at least; strings/lists: at least this many
    high: float | None = None  # numbers: at most; strings/lists: at most this many
    pattern: str | None = None  # strings must match (fullmatch)
    hint: str = ""  # what the pattern means, for the problem text
    multiline: bool = False  # text that may hold tabs and line breaks (user data)


def bounded(
    default: Any = _MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    pattern: str | None = None,
    hint: str = "",
    multiline: bool = False,
) -> Any:
    """A dataclass field with bounds (and optionally a default)."""
    meta = {"bounds": Bounds(low, high, pattern, hint, multiline)}
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults: use a tuple or a frozen mapping")
    return dataclasses.field(default=default, metadata=meta)


def by_kind(key: str, table: Mapping[str, type[Any]]) -> dict[str, Any]:
    """Field metadata: the field holds the model ``table[data[key]]``, chosen by a sibling
    field (a desired object's ``spec`` by its ``kind``); a bad ``key`` is that field's
    problem. Use as ``dataclasses.field(metadata=by_kind("kind", SPECS))``."""
    return {"by_kind": (key, table)}


def wire_name(name: str) -> dict[str, Any]:
    """Field metadata: the field's key on the wire is ``name`` (when its own cannot be)."""
    return {"wire": name}


def key_of(cls: type[Any], f: dataclasses.Field[Any]) -> str:
    """The key field ``f`` of model ``cls`` has on the wire (see the module docstring)."""
    named = f.metadata.get("wire")
    if named is not None:
        return str(named)
    if getattr(cls, "WIRE_CASE", "snake") == "camel":
        head, *rest = f.name.split("_")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)
    return f.name


def decode(cls: type[Any], data: object, where: str, strict: bool) -> tuple[Any, list[Problem]]:
    """``data`` as an instance of the dataclass ``cls``, or ``None``, and every problem."""
    problems: list[Problem] = []
    value = _model(cls, data, where, strict, problems)
    return value, problems


def encode(value: Any) -> Any:
    """A model (or anything a model holds) as plain wire values; ``extra`` keys come back."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if f.name == EXTRA:
                continue
            item = getattr(value, f.name)
            if item is None and getattr(value, "OMIT_NONE", False):
                continue
            out[key_of(type(value), f)] = encode(item)
        extra = getattr(value, EXTRA, None)
        if extra:
            for key, item in extra.items():
                out.setdefault(key, item)
        return out
    if isinstance(value, tuple):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {k: encode(v) for k, v in value.items()}
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


@typing.no_type_check
def _hints(cls: type[Any]) -> dict[str, Any]:
    cached = cls.__dict__.get("__atoll_hints__")
    if cached is None:
        cached = typing.get_type_hints(cls)
        cls.__atoll_hints__ = cached
    return cached


def _model(cls: type[Any], data: object, where: str, strict: bool, problems: list[Problem]) -> Any:
    if not isinstance(data, Mapping):
        problems.append(Problem(where or "body", "must be an object"))
        return None
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    before = len(problems)
    known = set()
    for f in dataclasses.fields(cls):
        if f.name == EXTRA:
            continue
        key = key_of(cls, f)
        known.add(key)
        path = _join(where, key)
        if key not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(Problem(path, "is required"))
            continue
        if "by_kind" in f.metadata:
            sib, table = f.metadata["by_kind"]
            chosen = table.get(data.get(sib)) if isinstance(data.get(sib), str) else None
            if chosen is not None and data[key] is not None:
                kwargs[f.name] = _model(chosen, data[key], path, strict, problems)
            elif data[key] is not None and sib in data and data.get(sib) in _kinds(cls, sib):
                problems.append(Problem(path, f"a {data[sib]} has none"))
            elif data[key] is None and f.default is dataclasses.MISSING:
                problems.append(Problem(path, "must be an object"))
            continue
        bounds = f.metadata.get("bounds")
        kwargs[f.name] = _value(hints[f.name], data[key], path, strict, problems, bounds)
    unknown = {k: v for k, v in data.items() if k not in known}
    if unknown:
        if strict:
            names = ", ".join(sorted(known))
            for key in sorted(unknown, key=str):
                problems.append(Problem(_join(where, str(key)), f"unknown field; known: {names}"))
        elif any(f.name == EXTRA for f in dataclasses.fields(cls)):
            kwargs[EXTRA] = types.MappingProxyType(dict(unknown))
    if len(problems) > before:
        return None
    instance = cls(**kwargs)
    check = getattr(instance, "problems", None)
    if check is not None:
        problems.extend(check(where))
    return instance


def _kinds(cls: type[Any], key: str) -> tuple[Any, ...]:
    return typing.get_args(_hints(cls)[key])


def _value(
    hint: Any,
    value: object,
    where: str,
    strict: bool,
    problems: list[Problem],
    bounds: Bounds | None = None,
) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {hint}")
        return _value(inner[0], value, where, strict, problems, bounds)
    if origin is Literal:
        if value not in args:
            problems.append(Problem(where, f"must be one of {', '.join(map(str, args))}"))
            return None
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            problems.append(Problem(where, "must be a list"))
            return None
        _count(len(value), where, problems, bounds, "items")
        return tuple(
            _value(args[0], item, f"{where}[{i}]", strict, problems) for i, item in enumerate(value)
        )
    if origin in (Mapping, dict, typing.Mapping):
        if not isinstance(value, Mapping):
            problems.append(Problem(where, "must be an object"))
            return None
        _count(len(value), where, problems, bounds, "keys")
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(Problem(where, f"key {key!r} must be a string"))
                continue
            out[key] = _value(args[1], item, _join(where, key), strict, problems)
        return types.MappingProxyType(out)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _model(hint, value, where, strict, problems)
    if hint is Any:
        return value
    return _scalar(hint, value, where, problems, bounds)


def _scalar(
    hint: Any, value: object, where: str, problems: list[Problem], bounds: Bounds | None
) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            problems.append(Problem(where, "must be true or false"))
            return None
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(where, "must be an integer"))
            return None
        _range(value, where, problems, bounds)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem(where, "must be a number"))
            return None
        _range(value, where, problems, bounds)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            problems.append(Problem(where, "must be a string"))
            return None
        _count(len(value), where, problems, bounds, "characters")
        if not is_printable(value, multiline=bool(bounds and bounds.multiline)):
            problems.append(Problem(where, "must not contain control characters"))
        elif not is_unicode(value):
            problems.append(Problem(where, "must be Unicode text: holds a lone surrogate"))
        elif bounds and bounds.pattern and not re.fullmatch(bounds.pattern, value):
            problems.append(Problem(where, bounds.hint or f"must match {bounds.pattern}"))
        return value
    raise TypeError(f"unsupported annotation {hint!r} at {where}")


def _range(value: float, where: str, problems: list[Problem], bounds: Bounds | None) -> None:
    if bounds is None:
        return
    # "not within" rather than "beyond": NaN compares false with everything, so it is never
    # within a bound (msgpack carries NaN and infinities, JSON from a peer may too)
    if (bounds.low is not None and not value >= bounds.low) or (
        bounds.high is not None and not value <= bounds.high
    ):
        problems.append(Problem(where, f"must be in {_fmt(bounds.low)}..{_fmt(bounds.high)}"))


def _count(n: int, where: str, problems: list[Problem], bounds: Bounds | None, unit: str) -> None:
    if bounds is None:
        return
    if bounds.low is not None and n < bounds.low:
        least = "must not be empty" if bounds.low == 1 else f"needs {_fmt(bounds.low)} {unit}"
        problems.append(Problem(where, least))
    if bounds.high is not None and n > bounds.high:
        problems.append(Problem(where, f"must have at most {_fmt(bounds.high)} {unit}"))


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def schema(cls: type[Any], *, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON Schema of the model ``cls`` as a strict decode reads it (its wire keys; unknown
    fields refused): the same annotations and bounds the decoder checks, so a document built
    on it cannot drift from the checks. Rules between fields (``Model.problems``) are not in
    it; ``leave_out`` names wire keys a request may not send."""
    hints = _hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        key = key_of(cls, f)
        if f.name == EXTRA or key in leave_out:
            continue
        if "by_kind" in f.metadata:
            properties[key] = {"type": ["object", "null"]}
        else:
            properties[key] = _schema(hints[f.name], f.metadata.get("bounds"))
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(key)
    out: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        out["required"] = required
    return out


def _schema(hint: Any, bounds: Bounds | None = None) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        inner = _schema(next(a for a in args if a is not type(None)), bounds)
        if "enum" in inner:
            inner["enum"] = [*inner["enum"], None]
        kind = inner.get("type")
        if kind is not None:
            inner["type"] = [kind, "null"]
        return inner
    if origin is Literal:
        kinds = {type(a) for a in args}
        out: dict[str, Any] = {"enum": list(args)}
        if kinds == {str}:
            out["type"] = "string"
        return out
    if origin is tuple:
        out = {"type": "array", "items": _schema(args[0])}
        _sized(out, bounds, "minItems", "maxItems")
        return out
    if origin in (Mapping, dict, typing.Mapping):
        out = {"type": "object", "additionalProperties": _schema(args[1])}
        _sized(out, bounds, "minProperties", "maxProperties")
        return out
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return schema(hint)
    if hint is Any:
        return {}
    scalar = {bool: "boolean", int: "integer", float: "number", str: "string"}[hint]
    out = {"type": scalar}
    if scalar == "string":
        _sized(out, bounds, "minLength", "maxLength")
        if bounds is not None and bounds.pattern is not None:
            out["pattern"] = f"^(?:{bounds.pattern})$"
    elif scalar in ("integer", "number") and bounds is not None:
        if bounds.low is not None:
            out["minimum"] = bounds.low
        if bounds.high is not None:
            out["maximum"] = bounds.high
    return out


def _sized(out: dict[str, Any], bounds: Bounds | None, low: str, high: str) -> None:
    if bounds is None:
        return
    if bounds.low is not None:
        out[low] = int(bounds.low)
    if bounds.high is not None:
        out[high] = int(bounds.high)
