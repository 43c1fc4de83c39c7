"""``/v1/sites``: the fleet's sites. Everyone with a role may look; system admins manage.

Deleting a site is refused (409) while the hub still places work there (servers, networks,
subnets, volumes, alarm rules): delete those first (a VNF instance's, by terminating it;
at a site that never comes back, deleting them leaves only tombstones, which go with the
site). The site goes in one commit with a purge record (:mod:`atoll.hub.api.purges`,
:data:`PURGE`): what the hub keeps about it (the tombstones and catalog copies placed
there, its statuses, events, operation records, conflicts, image transfers) is removed for
certain. Its certificate stops working with the record (:mod:`atoll.hub.sites.peers`), and a
site made later under the same name starts empty.
"""

from __future__ import annotations

import contextlib

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import LABELS, NAME_PATTERN, Field, Shape, name_field, text_field
from atoll.errors import Conflict, NotFound, StaleRevision
from atoll.hub.api import purges, records
from atoll.hub.api.context import HUB, hub_of
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
from atoll.hub.catalog import images as catalog_images
from atoll.hub.sites import intent, registry
from atoll.hub.store.base import Delete, Put
from atoll.hub.store.query import list_all
from atoll.timestamps import iso

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
    hub = hub_of(request)
    name = path_name(request)
    try:
        record = await hub.store.get(KIND, name)
    except NotFound as exc:
        raise NotFound(f"site {name} does not exist") from exc
    expect = if_match(request)
    if expect is not None and expect != record.revision:
        raise StaleRevision(
            f"site {name} is at revision {record.revision}, not {expect}: read it again"
        )
    site_id = str(record.value["id"])
    work = [
        r
        for r in await intent.placed_at(hub.store, site_id)
        if r.value.get("desired") and r.value.get("kind") in intent.FOR_PROJECT
    ]
    if work:
        shown = ", ".join(f"{r.value['kind']} {r.value.get('name') or r.value['id']}"
                          for r in work[:10])  # fmt: skip
        raise Conflict(
            f"site {name} still has {len(work)} objects placed by the hub ({shown}): delete "
            "them first (a VNF instance's by terminating it)"
        )
    purge = {"site_id": site_id, "name": name, "deleted_at": iso(hub.clock())}
    try:
        await hub.store.commit(
            [Delete(KIND, name, record.revision), Put(registry.PURGE_KIND, site_id, purge)]
        )
    except (StaleRevision, NotFound) as exc:
        raise Conflict(f"site {name} changed meanwhile; read it again and retry") from exc
    await purges.after_delete(request.app, registry.PURGE_KIND, site_id, PURGE)
    return no_content()


async def _records_of(app: web.Application, site_id: str) -> None:
    """What the hub keeps at the deleted site's keys: placed objects (tombstones, catalog
    copies), statuses, events, operation records."""
    store = app[HUB].store
    for kind in (intent.SITE_OBJECT, intent.SITE_STATUS, intent.SITE_EVENT,
                 intent.SITE_OPERATION):  # fmt: skip
        for leftover in await list_all(store, kind, {}, key_prefix=intent.site_prefix(site_id)):
            with contextlib.suppress(NotFound):
                await store.delete(kind, leftover.key)


async def _conflicts_and_transfers(app: web.Application, site_id: str) -> None:
    store = app[HUB].store
    for conflict in await list_all(store, intent.CONFLICT, {"site_id": site_id}):
        with contextlib.suppress(NotFound):
            await store.delete(intent.CONFLICT, conflict.key)
    try:  # transfers name their site by name: those asked before the site was deleted
        purge = (await store.get(registry.PURGE_KIND, site_id)).value
    except NotFound:
        return  # carried out meanwhile
    for transfer in await list_all(store, catalog_images.TRANSFER_KIND, {"site": purge["name"]}):
        if str(transfer.value.get("created_at", "")) <= str(purge["deleted_at"]):
            with contextlib.suppress(NotFound):
                await store.delete(catalog_images.TRANSFER_KIND, transfer.key)


# What a deleted site leaves, removed by its purge (atoll.hub.api.purges)
PURGE: tuple[purges.Part, ...] = (_records_of, _conflicts_and_transfers)


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
