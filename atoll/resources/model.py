"""The base every resource model derives from: frozen, typed, keyword-only, wire-safe.

``Model.to_wire()`` gives plain msgpack/JSON-safe values; ``Model.from_wire(data)`` checks
and builds one, raising :class:`~atoll.errors.InvalidInput` with every problem and its path.
Unknown keys are kept in ``extra`` (not dropped) unless ``strict=True`` asks to report them.
A subclass adds cross-field rules by overriding :meth:`Model.problems`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from atoll import ids
from atoll.errors import InvalidInput, Problem
from atoll.resources.fields import decode, encode

# What names an object at a site: as the site's API has always required (a hostname label).
NAME = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
NAME_HINT = "must be 1-63 letters, digits or '-', not starting or ending with '-'"
# Ids: every form atoll.ids accepts (32 lowercase hex digits, or the dashed UUID form sites
# minted before).
ID = ids.PATTERN
ID_HINT = f"must be {ids.HELP}"
SHA256 = r"[0-9a-f]{64}"


def no_extra() -> Mapping[str, Any]:
    return types.MappingProxyType({})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Model:
    """Base of every model: ``extra`` holds fields a newer peer sent that this one lacks."""

    WHAT: ClassVar[str] = "object"  # how an error message names it ("the server spec ...")

    extra: Mapping[str, Any] = dataclasses.field(
        default_factory=no_extra, compare=False, repr=False
    )

    def to_wire(self) -> dict[str, Any]:
        wire = encode(self)
        assert isinstance(wire, dict)
        return wire

    @classmethod
    def from_wire(cls, data: object, *, where: str = "", strict: bool = False) -> Self:
        value, problems = decode(cls, data, where, strict)
        if problems:
            raise InvalidInput(f"the {cls.WHAT} is not valid", problems)
        assert isinstance(value, cls)
        return value

    @classmethod
    def check(cls, data: object, *, where: str = "", strict: bool = False) -> list[Problem]:
        """Every problem ``data`` has as this model (empty: it loads)."""
        return decode(cls, data, where, strict)[1]

    def problems(self, where: str) -> list[Problem]:
        """Rules between fields; called once the fields themselves are well typed."""
        return []


def at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
