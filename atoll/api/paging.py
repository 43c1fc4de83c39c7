"""Pages of a list, the same way in both APIs: ``?limit=`` (1-1000, default 100) and
``?marker=`` (the last key of the previous page) in; ``{"items": [...], "next_marker"}`` out,
``next_marker`` null on the last page."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from aiohttp import web

from atoll.api.schema import Field
from atoll.errors import InvalidInput, Problem
from atoll.jsonbody import JSON

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
LIMIT = Field("integer", minimum=1, maximum=MAX_LIMIT, description="page size (default 100)")
MARKER = Field("string", max_length=255, description="the last name of the previous page")


def page_params(request: web.Request) -> tuple[int, str | None]:
    problems: list[Problem] = []
    limit = DEFAULT_LIMIT
    raw = request.query.get("limit")
    if raw is not None:
        if re.fullmatch(r"\d{1,4}", raw) and 1 <= int(raw) <= MAX_LIMIT:
            limit = int(raw)
        else:
            problems.append(Problem("query.limit", f"must be a whole number from 1 to {MAX_LIMIT}"))
    marker = request.query.get("marker")
    if marker is not None and len(marker) > 255:
        problems.append(Problem("query.marker", "must be at most 255 characters"))
    if problems:
        raise InvalidInput("the query is not valid", problems)
    return limit, marker


def page_body(items: list[JSON], next_marker: str | None) -> JSON:
    return {"items": items, "next_marker": next_marker}


def page_of(
    items: Sequence[JSON], limit: int, marker: str | None, key: Callable[[JSON], str]
) -> JSON:
    """One page of ``items`` already in memory, in ``key`` order, after ``marker``."""
    ordered = sorted(items, key=key)
    after = [item for item in ordered if marker is None or key(item) > marker]
    page = after[:limit]
    more = len(after) > limit
    return page_body(page, key(page[-1]) if more and page else None)
