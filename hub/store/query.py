"""List filters: which ones a store accepts, and how a value is matched against them.

A filter is equality on one top-level field of the stored JSON object, with a scalar value
(str, int, float, bool or None; None matches a missing field too). Every backend validates
filters with :func:`check_filters` so a bad one is the same ``InvalidInput`` everywhere;
backends that cannot filter on the server (etcd) use :func:`matches`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from atoll.errors import InvalidInput, Problem

FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
SCALARS = (str, int, float, bool, type(None))


def check_filters(filters: Mapping[str, Any]) -> None:
    problems = [
        Problem(f"filters.{name}", "must be a field name: letters, digits, '_' or '-'")
        for name in filters
        if not isinstance(name, str) or not FIELD.match(name)
    ]
    problems += [
        Problem(f"filters.{name}", f"must be a string, number, boolean or null, not {value!r}")
        for name, value in filters.items()
        if not isinstance(value, SCALARS)
    ]
    if problems:
        raise InvalidInput("bad list filter", problems)


def matches(value: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    return all(_equal(value.get(name), want) for name, want in filters.items())


def _equal(have: Any, want: Any) -> bool:
    # Strings never equal numbers, as in SQL; True == 1 as in Python and SQLite's JSON.
    if isinstance(have, str) != isinstance(want, str):
        return False
    return bool(have == want)
