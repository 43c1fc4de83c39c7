"""``/v1/conflicts``: site changes the hub could not adopt, and how the NOC settles them.

A conflict appears when a site, working offline, changed an object the hub changed too
(:mod:`atoll.hub.sync.operations`); the hub holds its intent for that object until someone
resolves it. ``POST /v1/conflicts/{id}/resolve {"keep": "site"|"hub"}``: ``hub`` sends the
hub's intent again with ``override`` (the site applies it over its own change); ``site``
adopts the site's version. System admins and members of the object's project may resolve;
readers and other projects' members see only their own project's conflicts.

A conflict answers ``{"id", "site", "site_id", "kind", "object_id", "name", "project_id",
"op", "base_hub_revision", "hub_revision", "site_desired", "hub_desired", "state":
"open"|"resolved", "resolution": null | {"keep", "by", "at"}, "created_at"}``.
"""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.errors import NotFound
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import (
    page_params,
    page_reply,
    path_id,
    public_view,
    query_filters,
    read_body,
    reply,
)
from atoll.hub.identity import tenancy
from atoll.hub.sites.intent import CONFLICT
from atoll.hub.store.base import ListQuery, Record
from atoll.hub.sync import operations
from atoll.timestamps import iso

STATES = ("open", "resolved")
CONFLICT_SHAPE = Shape(
    "Conflict",
    {
        "id": Field("string", required=True),
        "site": Field("string", required=True),
        "site_id": Field("string", required=True),
        "kind": Field("string", required=True),
        "object_id": Field("string", required=True),
        "name": Field("string", required=True, nullable=True),
        "project_id": Field("string", required=True, nullable=True),
        "op": Field("string", required=True, enum=("create", "update", "delete", "action")),
        "base_hub_revision": Field("integer", required=True, nullable=True),
        "hub_revision": Field("integer", required=True, nullable=True),
        "site_desired": Field(
            "object",
            required=True,
            nullable=True,
            description="the site's version (a Desired), null: deleted",
        ),
        "hub_desired": Field(
            "object",
            required=True,
            nullable=True,
            description="the hub's version (a Desired), null: deleted",
        ),
        "operation_seq": Field("integer", required=True),
        "state": Field("string", required=True, enum=STATES),
        "resolution": Field("object", required=True, nullable=True),
        "created_at": Field("string", required=True),
        "updated_at": Field("string"),
    },
)
RESOLVE = Shape(
    "ConflictResolve",
    {"keep": Field("string", required=True, enum=("site", "hub"), description="whose version")},
)
QUERY = {"state": Field("string", enum=STATES)}
PATH = {"id": Field("string", required=True, pattern=r"^[0-9a-f]{32}$")}


async def _visible(request: web.Request) -> Record:
    conflict_id = path_id(request)
    claims = claims_of(request)
    try:
        record = await hub_of(request).store.get(CONFLICT, conflict_id)
    except NotFound:
        record = None
    if record is None or not (claims.system or tenancy.owns(claims, record.value)):
        raise NotFound(f"conflict {conflict_id} does not exist")
    return record


async def list_conflicts(request: web.Request) -> web.Response:
    claims = claims_of(request)
    limit, marker = page_params(request)
    filters = query_filters(request, QUERY)
    if not claims.system:
        filters["project_id"] = claims.project_id
    page = await hub_of(request).store.list(ListQuery(CONFLICT, filters, limit, marker))
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def show_conflict(request: web.Request) -> web.Response:
    record = await _visible(request)
    return reply(public_view(record), revision=record.revision)


async def resolve_conflict(request: web.Request) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    record = await _visible(request)
    body = await read_body(request, RESOLVE)
    resolved = await operations.resolve(
        hub.store, record, body["keep"], claims.user, iso(hub.clock())
    )
    return reply({k: v for k, v in resolved.items() if not k.startswith("_")})


ROUTES = [
    Route("GET", "/v1/conflicts", "conflicts.list", list_conflicts,
          "List conflicts between site changes and hub intent (filter by state)",
          response=CONFLICT_SHAPE, paged=True, query=QUERY),
    Route("GET", "/v1/conflicts/{id}", "conflicts.show", show_conflict, "Show a conflict",
          response=CONFLICT_SHAPE, path_params=PATH, etag=True),
    Route("POST", "/v1/conflicts/{id}/resolve", "conflicts.resolve", resolve_conflict,
          "Resolve a conflict: keep the site's version or the hub's", body=RESOLVE,
          response=CONFLICT_SHAPE, path_params=PATH,
          description="keep=hub sends the hub's intent again with override (the site "
          "applies it over its own change); keep=site adopts the site's version. A conflict "
          "that is not open answers 409."),
]  # fmt: skip
