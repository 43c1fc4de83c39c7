"""Image transfers to sites: prestage intents, the site's pull queue and its progress reports.

``POST /v1/images/{id}/prestage {"sites": [...]}`` records, per site, that the site should
hold the image (state ``pending``). Until the sync issue carries these over its mTLS
session, a site agent polls ``GET /v1/sites/{name}/image_transfers?state=pending`` with a
hub token (a user with a *system* role: ``reader`` may poll, ``member`` or ``admin`` may
also report) and reports with ``PATCH /v1/sites/{name}/image_transfers/{image_id}``
(``pulling`` with bytes done/total, then ``done`` or ``failed``). A site that pulls an
image on its own (a server needs it) reports the same way and the record is created.
``GET /v1/image_transfers`` shows everyone's progress (project callers: for the images they
may see).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import name_field
from atoll.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem
from atoll.hub.api import records
from atoll.hub.api.context import claims_of, hub_of, now_iso, site_caller
from atoll.hub.api.image_shapes import (
    IMAGE_ID,
    PRESTAGE,
    PRESTAGE_REPLY,
    STATE_FILTER,
    TRANSFER,
    TRANSFER_FILTERS,
    TRANSFER_UPDATE,
)
from atoll.hub.api.images import visible_image
from atoll.hub.api.replies import (
    page_params,
    page_reply,
    path_id,
    path_name,
    public_view,
    query_filters,
    read_body,
    reply,
)
from atoll.hub.catalog import images as catalog
from atoll.hub.catalog.images import Image, Transfer
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import Record
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON

log = logging.getLogger(__name__)
KIND = catalog.TRANSFER_KIND
SITE_PATH = {"name": name_field("site")}


async def prestage(request: web.Request) -> web.Response:
    image = Image.of(await visible_image(request))
    body = await read_body(request, PRESTAGE)
    if image.status != "active":
        raise Conflict(f"image {image.id} is {image.status}: only active images can be prestaged")
    store = hub_of(request).store
    problems = []
    for site in body["sites"]:
        try:
            await store.get(SITE_KIND, site)
        except NotFound:
            problems.append(Problem("body.sites", f"there is no site {site}"))
    if problems:
        raise InvalidInput("prestage names unknown sites", problems)
    claims = claims_of(request)
    transfers = []
    for site in body["sites"]:
        transfers.append(await _request_pull(request, image, site, claims.user))
    return reply({"transfers": transfers}, 202)


async def _request_pull(request: web.Request, image: Image, site: str, user: str) -> JSON:
    store = hub_of(request).store
    key = catalog.transfer_key(site, image.id)
    asked = Transfer.new(site, image, user, now_iso(request))
    try:
        current = await store.get(KIND, key)
    except NotFound:
        return public_view(await records.create(store, KIND, key, asked.to_wire()))
    transfer = Transfer.of(current)
    if transfer.state in ("pending", "pulling"):
        return public_view(current)
    again = replace(asked, created_at=transfer.created_at, extra=transfer.extra)
    return public_view(
        await store.put(KIND, key, again.to_wire(), expect_revision=current.revision)
    )


async def list_transfers(request: web.Request) -> web.Response:
    claims = claims_of(request)
    limit, marker = page_params(request)
    filters = query_filters(request, dict(TRANSFER_FILTERS))
    store = hub_of(request).store
    seen: dict[str, bool] = {}
    if not claims.system:  # project callers: transfers of images they may see
        for record in await _images(request):
            seen[record.key] = catalog.visible(record, claims)
    page = await records.visible_page(
        store,
        KIND,
        limit,
        marker,
        lambda r: claims.system or seen.get(Transfer.of(r).image_id, False),
        filters,
    )
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def _images(request: web.Request) -> list[Record]:
    return await list_all(hub_of(request).store, catalog.KIND, {})


def _site_path(request: web.Request) -> str:
    """The site in the path; a site agent calling by its certificate reaches only its own."""
    site = path_name(request)
    peer = site_caller(request)
    if peer is not None and peer.site_name != site:
        log.warning("site %s's certificate was used to reach site %s", peer.site_name, site)
        raise Forbidden(f"site {peer.site_name}'s certificate may not reach site {site}")
    return site


async def list_site_transfers(request: web.Request) -> web.Response:
    site = _site_path(request)
    limit, marker = page_params(request)
    filters = {**query_filters(request, dict(STATE_FILTER)), "site": site}
    page = await records.visible_page(
        hub_of(request).store, KIND, limit, marker, lambda r: True, filters
    )
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def update_site_transfer(request: web.Request) -> web.Response:
    site = _site_path(request)
    image_id = path_id(request, "image_id")
    body = await read_body(request, TRANSFER_UPDATE)
    store = hub_of(request).store
    key = catalog.transfer_key(site, image_id)
    try:
        current: Record | None = await store.get(KIND, key)
    except NotFound:
        current = None
    if current is None:  # a pull the site started itself (a server needed the image)
        await records.fetch(store, SITE_KIND, site)
        image = Image.of(await records.fetch(store, catalog.KIND, image_id))
        transfer = Transfer.new(site, image, claims_of(request).user, now_iso(request))
    else:
        transfer = Transfer.of(current)
    transfer = replace(
        transfer,
        state=body["state"],
        bytes_done=body.get("bytes_done", transfer.bytes_done),
        bytes_total=body.get("bytes_total", transfer.bytes_total),
        error=body.get("error", transfer.error if body["state"] == "failed" else ""),
        updated_at=now_iso(request),
    )
    expect = current.revision if current is not None else 0
    saved = await store.put(KIND, key, transfer.to_wire(), expect_revision=expect)
    return reply(public_view(saved), revision=saved.revision)


ROUTES = [
    Route(
        "POST",
        "/v1/images/{image_id}/prestage",
        "images.prestage",
        prestage,
        "Ask sites to pull an active image ahead of any deploy",
        description="Each named site gets a pending transfer (one already pending or pulling "
        "is left as it is; a done or failed one is asked again). Unknown sites answer 400.",
        body=PRESTAGE,
        response=PRESTAGE_REPLY,
        status=202,
        path_params={"image_id": IMAGE_ID},
    ),
    Route(
        "GET",
        "/v1/image_transfers",
        "image_transfers.list",
        list_transfers,
        "Image transfers to sites and their progress",
        response=TRANSFER,
        paged=True,
        query=TRANSFER_FILTERS,
    ),
    Route(
        "GET",
        "/v1/sites/{name}/image_transfers",
        "sites.image_transfers.list",
        list_site_transfers,
        "A site's image transfers (what it polls for pending pulls)",
        response=TRANSFER,
        paged=True,
        query=STATE_FILTER,
        path_params=SITE_PATH,
    ),
    Route(
        "PATCH",
        "/v1/sites/{name}/image_transfers/{image_id}",
        "sites.image_transfers.update",
        update_site_transfer,
        "A site reports a transfer's state and progress",
        description="Creates the record when the site pulls an image nobody prestaged.",
        body=TRANSFER_UPDATE,
        response=TRANSFER,
        path_params={**SITE_PATH, "image_id": IMAGE_ID},
    ),
]
