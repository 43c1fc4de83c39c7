"""Field specs: one declaration per request/response shape, giving both validation and schema.

A :class:`Shape` validates request bodies (unknown fields rejected, every problem reported
with where it is) and renders itself as the JSON Schema the OpenAPI document carries, so
the document and the checks cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from atoll.errors import InvalidInput, Problem
from atoll.jsonbody import JSON
from atoll.printable import PRINTABLE_HELP, PRINTABLE_PATTERN

FieldType = Literal["string", "integer", "number", "boolean", "object", "array"]

NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
NAME_HELP = "1-63 of a-z, 0-9, '.', '_', '-', starting and ending with a letter or digit"
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


class Body(Protocol):
    """What a route's request body is declared as: anything that states its JSON Schema (a
    :class:`Shape`, a :class:`OneOf`, or a typed model's body, :class:`atoll.api.bodies.ModelBody`).
    """

    @property
    def name(self) -> str: ...

    def schema(self) -> JSON: ...


@dataclass(frozen=True)
class Field:
    type: FieldType
    required: bool = False
    nullable: bool = False
    description: str = ""
    pattern: str | None = None
    pattern_help: str = ""
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[object, ...] | None = None
    items: Field | None = None  # arrays
    max_items: int | None = None
    unique_items: bool = False
    shape: Shape | None = None  # objects with known fields
    values: Field | None = None  # objects used as maps (labels)
    max_properties: int | None = None

    def schema(self) -> JSON:
        out: JSON = {"type": [self.type, "null"] if self.nullable else self.type}
        if self.description:
            out["description"] = self.description
        for key, value in (
            ("pattern", self.pattern),
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("maxItems", self.max_items),
            ("maxProperties", self.max_properties),
        ):
            if value is not None:
                out[key] = value
        if self.enum is not None:
            out["enum"] = [*self.enum, None] if self.nullable else list(self.enum)
        if self.items is not None:
            out["items"] = self.items.schema()
        if self.unique_items:
            out["uniqueItems"] = True
        if self.shape is not None:
            out.update(self.shape.schema())
            if self.nullable:
                out["type"] = ["object", "null"]
        if self.values is not None:
            out["additionalProperties"] = self.values.schema()
            out["propertyNames"] = {"pattern": NAME_PATTERN}
        return out


def _type_ok(value: object, kind: FieldType) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and math.isfinite(float(value))  # type: ignore[arg-type]
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def check(spec: Field, value: object, where: str, problems: list[Problem]) -> object:
    """Append what is wrong with ``value`` to ``problems``; return the value, normalised."""
    if value is None:
        if not spec.nullable:
            problems.append(Problem(where, f"must be a {spec.type}, not null"))
        return None
    if spec.type == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _type_ok(value, spec.type):
        problems.append(Problem(where, f"must be a {spec.type}, not {_json_type(value)}"))
        return value
    if isinstance(value, str):
        _check_string(spec, value, where, problems)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if spec.minimum is not None and value < spec.minimum:
            problems.append(Problem(where, f"must be at least {spec.minimum:g}"))
        if spec.maximum is not None and value > spec.maximum:
            problems.append(Problem(where, f"must be at most {spec.maximum:g}"))
    if spec.enum is not None and not isinstance(value, str) and value not in spec.enum:
        problems.append(Problem(where, f"must be one of {', '.join(map(str, spec.enum))}"))
    if isinstance(value, list):
        return _check_list(spec, value, where, problems)
    elif isinstance(value, dict):
        return _check_object(spec, value, where, problems)
    return value


def _check_string(spec: Field, value: str, where: str, problems: list[Problem]) -> None:
    if spec.min_length is not None and len(value) < spec.min_length:
        problems.append(Problem(where, f"must be at least {spec.min_length} characters"))
    if spec.max_length is not None and len(value) > spec.max_length:
        problems.append(Problem(where, f"must be at most {spec.max_length} characters"))
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        problems.append(Problem(where, f"must be {spec.pattern_help or spec.pattern}"))
    if spec.enum is not None and value not in spec.enum:
        problems.append(Problem(where, f"must be one of {', '.join(map(str, spec.enum))}"))


def _check_list(spec: Field, value: list[Any], where: str, problems: list[Problem]) -> object:
    if spec.max_items is not None and len(value) > spec.max_items:
        problems.append(Problem(where, f"must have at most {spec.max_items} items"))
    if spec.unique_items and len({repr(v) for v in value}) != len(value):
        problems.append(Problem(where, "must not repeat items"))
    if spec.items is None:
        return value
    return [check(spec.items, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]


def _check_object(spec: Field, value: JSON, where: str, problems: list[Problem]) -> object:
    if spec.shape is not None:
        return spec.shape.check(value, where, problems)
    if spec.max_properties is not None and len(value) > spec.max_properties:
        problems.append(Problem(where, f"must have at most {spec.max_properties} entries"))
    if spec.values is None:
        return value
    out = {}
    for key, item in value.items():
        if not re.fullmatch(NAME_PATTERN, key):
            problems.append(Problem(f"{where}.{key}", f"key must be {NAME_HELP}"))
        out[key] = check(spec.values, item, f"{where}.{key}", problems)
    return out


def _json_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return names.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Shape:
    """An object with known fields; anything else in it is an error."""

    name: str
    fields: Mapping[str, Field] = field(default_factory=dict)
    description: str = ""

    def schema(self) -> JSON:
        out: JSON = {
            "type": "object",
            "properties": {k: f.schema() for k, f in self.fields.items()},
            "additionalProperties": False,
        }
        required = [k for k, f in self.fields.items() if f.required]
        if required:
            out["required"] = required
        if self.description:
            out["description"] = self.description
        return out

    def check(self, value: JSON, where: str, problems: list[Problem]) -> JSON:
        out: JSON = {}
        for key in value:
            if key not in self.fields:
                known = ", ".join(self.fields) or "none"
                problems.append(Problem(f"{where}.{key}", f"unknown field (known: {known})"))
        for key, spec in self.fields.items():
            if key in value:
                out[key] = check(spec, value[key], f"{where}.{key}", problems)
            elif spec.required:
                problems.append(Problem(f"{where}.{key}", "is required"))
        return out

    def validate(self, value: object, where: str = "body") -> JSON:
        """The checked body, or InvalidInput listing every problem in it."""
        if not isinstance(value, dict):
            raise InvalidInput(f"the request {where} must be a JSON object")
        problems: list[Problem] = []
        out = self.check(value, where, problems)
        if problems:
            raise InvalidInput(f"the request {where} is not valid", problems)
        return out


@dataclass(frozen=True)
class OneOf:
    """Exactly one of several shapes, told apart by their required fields."""

    name: str
    options: tuple[Shape, ...]
    description: str = ""

    def schema(self) -> JSON:
        out: JSON = {"oneOf": [o.schema() for o in self.options]}
        if self.description:
            out["description"] = self.description
        return out

    def validate(self, value: object, where: str = "body") -> JSON:
        if not isinstance(value, dict):
            raise InvalidInput(f"the request {where} must be a JSON object")
        fitting = [
            o for o in self.options if all(k in value for k, f in o.fields.items() if f.required)
        ]
        if len(fitting) != 1:
            raise InvalidInput(f"the request {where} is not valid: {self.description}")
        return fitting[0].validate(value, where)


def name_field(what: str, required: bool = True) -> Field:
    return Field(
        "string",
        required=required,
        description=f"the {what}'s name, unique among {what}s",
        pattern=NAME_PATTERN,
        pattern_help=NAME_HELP,
        min_length=1,
        max_length=63,
    )


def text_field(description: str, max_length: int = 255, required: bool = False) -> Field:
    """Free text a person reads (descriptions, free-form names): no control characters."""
    return Field(
        "string",
        required=required,
        description=description,
        max_length=max_length,
        pattern=PRINTABLE_PATTERN,
        pattern_help=PRINTABLE_HELP,
    )


def time_field(description: str, nullable: bool = False, required: bool = True) -> Field:
    return Field(
        "string",
        required=required,
        nullable=nullable,
        description=description + " (UTC, YYYY-MM-DDTHH:MM:SSZ)",
        pattern=TIME_PATTERN,
        pattern_help="a UTC time like 2030-01-31T12:00:00Z",
    )


LABELS = Field(
    "object",
    description="free-form labels (name -> short text)",
    values=Field("string", max_length=255, pattern=PRINTABLE_PATTERN, pattern_help=PRINTABLE_HELP),
    max_properties=64,
)
