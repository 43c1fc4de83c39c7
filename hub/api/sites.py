"""``/v1/sites``: the fleet's sites. Everyone with a role may look; system admins manage."""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import LABELS, NAME_PATTERN, Field, Shape, name_field, text_field
from atoll.hub.api import records
from atoll.hub.api.context import hub_of
from atoll.hub.api.replies import (
    if_match,
    no_content,
    page_params,
    page_reply,
    path_name,
    public_view,
    query_filters,
    read_body,
    reply,
)
from atoll.hub.sites import registry

KIND = registry.SITE_KIND
PATH = {"name": name_field("site")}

LOCATION = Shape(
    "Location",
    {
        "latitude": Field("number", required=True, minimum=-90, maximum=90),
        "longitude": Field("number", required=True, minimum=-180, maximum=180),
    },
)
RESOURCES = Shape(
    "Resources",
    {
        "vcpus": Field("integer", required=True),
        "ram_mb": Field("integer", required=True),
        "disk_gb": Field("integer", required=True),
    },
)
SYNC = Shape(
    "SyncFigures",
    {
        "acked_revision": Field("integer", required=True, nullable=True),
        "pending_changes": Field("integer", required=True, nullable=True),
        "last_sync": Field("string", required=True, nullable=True),
        "last_heard": Field("number", nullable=True, description="epoch seconds"),
        "acked_seq": Field("integer", description="newest site fact the hub recorded"),
        "sent_seq": Field("integer", description="newest fact the site says it sent"),
        "repairs": Field("integer", description="objects anti-entropy repaired"),
        "sessions": Field("integer", description="sync sessions opened"),
        "telemetry_batches": Field("integer"),
        "session": Field("string", nullable=True, description="the open session's epoch"),
        "protocol_version": Field("integer", nullable=True),
    },
)
SITE = Shape(
    "Site",
    {
        "id": Field("string", required=True),
        "name": Field("string", required=True),
        "description": Field("string", required=True),
        "region": Field("string", required=True),
        "labels": Field("object", required=True, values=Field("string")),
        "location": Field("object", required=True, nullable=True, shape=LOCATION),
        "capacity": Field("object", required=True, shape=RESOURCES),
        "usage": Field("object", required=True, shape=RESOURCES),
        "state": Field("string", required=True, enum=registry.STATES),
        "last_seen": Field("string", required=True, nullable=True),
        "reported_at": Field(
            "string",
            description="when the site last reported its capacity and usage (absent: "
            "never; placement then takes it as unbounded)",
        ),
        "sync": Field("object", required=True, shape=SYNC),
        "created_at": Field("string", required=True),
        "updated_at": Field("string"),
        "cert_serial": Field("string", nullable=True, description="its certificate's, hex"),
        "previous_cert_serial": Field(
            "string", nullable=True, description="the certificate before the last renewal"
        ),
        "cert_not_after": Field("string", description="when its certificate expires"),
        "agent_fingerprint": Field("string", description="sha256 pin of the agent's key"),
        "agent_version": Field("string"),
        "joined_at": Field("string"),
    },
)
REGION = name_field("region", required=False)
SITE_CREATE = Shape(
    "SiteCreate",
    {
        "name": name_field("site"),
        "description": text_field("what and where it is"),
        "region": REGION,
        "labels": LABELS,
        "location": Field("object", nullable=True, shape=LOCATION),
    },
)
SITE_UPDATE = Shape(
    "SiteUpdate",
    {
        "description": text_field("what and where it is"),
        "region": REGION,
        "labels": LABELS,
        "location": Field("object", nullable=True, shape=LOCATION),
        "state": Field(
            "string", enum=registry.OPERATOR_STATES, description="maintenance, or offline to end it"
        ),
    },
)


QUERY: dict[str, Field] = {
    "region": Field("string", pattern=NAME_PATTERN, max_length=63),
    "state": Field("string", enum=registry.STATES),
}


async def list_sites(request: web.Request) -> web.Response:
    limit, marker = page_params(request)
    filters = query_filters(request, QUERY)
    store = hub_of(request).store
    page = await records.visible_page(store, KIND, limit, marker, lambda r: True, filters)
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def create_site(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await read_body(request, SITE_CREATE)
    value = registry.new_site(body["name"], body, hub.clock())
    record = await records.create(hub.store, KIND, body["name"], value)
    return reply(public_view(record), 201, record.revision)


async def show_site(request: web.Request) -> web.Response:
    record = await records.fetch(hub_of(request).store, KIND, path_name(request))
    return reply(public_view(record), revision=record.revision)


async def update_site(request: web.Request) -> web.Response:
    hub = hub_of(request)
    name = path_name(request)
    body = await read_body(request, SITE_UPDATE)
    expect = if_match(request)
    if "state" in body:
        current = await records.fetch(hub.store, KIND, name)
        expect = expect or current.revision
        body["state"] = registry.operator_transition(current.value["state"], body["state"])
    record = await records.update(hub.store, KIND, name, body, expect)
    return reply(public_view(record), revision=record.revision)


async def delete_site(request: web.Request) -> web.Response:
    await records.remove(hub_of(request).store, KIND, path_name(request), if_match(request))
    return no_content()


ROUTES = [
    Route(
        "GET",
        "/v1/sites",
        "sites.list",
        list_sites,
        "List sites (filter by region, state)",
        response=SITE,
        paged=True,
        query=QUERY,
    ),
    Route(
        "POST",
        "/v1/sites",
        "sites.create",
        create_site,
        "Register a site ahead of its enrollment",
        body=SITE_CREATE,
        response=SITE,
        status=201,
        etag=True,
    ),
    Route(
        "GET",
        "/v1/sites/{name}",
        "sites.show",
        show_site,
        "Show a site",
        response=SITE,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "PATCH",
        "/v1/sites/{name}",
        "sites.update",
        update_site,
        "Change a site's description, region, labels, location, or maintenance state",
        body=SITE_UPDATE,
        response=SITE,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "DELETE",
        "/v1/sites/{name}",
        "sites.delete",
        delete_site,
        "Remove a site from the registry",
        status=204,
        path_params=PATH,
        etag=True,
    ),
]
