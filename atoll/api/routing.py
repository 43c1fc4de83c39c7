"""A route: method, path, the name policy and OpenAPI know it by, and its shapes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from atoll.api.schema import Body, Field

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    name: str  # e.g. "projects.create": the key into the policy table
    handler: Handler
    summary: str
    body: Body | None = None  # a Shape, a OneOf, or any declaration with schema()
    response: Body | Field | None = None  # a Shape, a Field, a view; None: 204 No Content
    status: int = 200
    paged: bool = False  # takes ?limit=&marker=, answers {"items": [...], "next_marker"}
    query: Mapping[str, Field] = field(default_factory=dict)
    path_params: Mapping[str, Field] = field(default_factory=dict)
    etag: bool = False  # answers with ETag; an update/delete honours If-Match
    public: bool = False  # no token needed (documented as such)
    description: str = ""  # longer notes for the document (rules beyond the schema)
    raw_body: tuple[str, ...] = ()  # media types of a non-JSON (binary) request body
    raw_response: tuple[str, ...] = ()  # media types of a non-JSON success response
    unavailable: bool = False  # may answer 503 with the response's shape (a readiness probe)
    # server-side statuses it answers in the error body besides the 4XX ones (a dependency
    # that is out of reach: 503, one that does not answer in time: 504), and when
    errors: Mapping[int, str] = field(default_factory=dict)
