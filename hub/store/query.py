"""List queries: which ones a store accepts, and how a value is matched against filters.

A filter is equality on one top-level field of the stored JSON object, with a scalar value
(str, int, float, bool or None; None matches a missing field too); ``limit`` is at least 1.
Every backend validates queries with :func:`check_query`, so a bad one is the same
``InvalidInput`` everywhere; backends that cannot filter on the server (etcd) use
:func:`matches`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from atoll.errors import InvalidInput, NotFound, Problem
from atoll.hub.store.base import ListQuery, Record, Store

FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
SCALARS = (str, int, float, bool, type(None))


def check_query(query: ListQuery) -> None:
    """InvalidInput, naming every problem, unless every backend can run ``query``."""
    problems = _filter_problems(query.filters)
    if not isinstance(query.limit, int) or query.limit < 1:
        problems.append(
            Problem("limit", f"must be a whole number of at least 1, not {query.limit!r}")
        )
    if problems:
        raise InvalidInput("bad list query", problems)


def _filter_problems(filters: Mapping[str, Any]) -> list[Problem]:
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
    return problems


def matches(value: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    return all(_equal(value.get(name), want) for name, want in filters.items())


def _equal(have: Any, want: Any) -> bool:
    # Strings never equal numbers, as in SQL; True == 1 as in Python and SQLite's JSON.
    if isinstance(have, str) != isinstance(want, str):
        return False
    return bool(have == want)


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: no such
    string, nothing bounds them). Code point order is UTF-8's byte order, so this bounds
    a range of keys in SQLite and etcd alike; surrogates, which UTF-8 cannot hold, are
    stepped over."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(0xE000 if last == 0xD7FF else last + 1)
        prefix = prefix[:-1]
    return None


async def list_all(
    store: Store, kind: str, filters: Mapping[str, Any], *, key_prefix: str = ""
) -> list[Record]:
    """Every object of ``kind`` matching ``filters`` (and ``key_prefix``), following the
    pages."""
    out: list[Record] = []
    marker: str | None = None
    while True:
        query = ListQuery(kind, filters=filters, limit=1000, marker=marker, key_prefix=key_prefix)
        page = await store.list(query)
        out += page.items
        if page.next_marker is None:
            return out
        marker = page.next_marker


async def get_or_none(store: Store, kind: str, key: str) -> Record | None:
    """The object, or None if there is none (NotFound, for a caller to whom absence is an
    answer)."""
    try:
        return await store.get(kind, key)
    except NotFound:
        return None
