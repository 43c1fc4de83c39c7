"""``/v1/sites/{site}/events`` and ``/v1/sites/{site}/operations``: what a site told the hub.

Events (state changes worth a NOC's attention: a server in ERROR, a restart, a hub change
held or refused at the site) and the site-authored operation records (a field engineer's
change, a local heal), each with the site's sequence number, in sequence order, as sync
recorded them (:mod:`atoll.hub.sync.facts`): nothing a site did while offline is lost, and
here is where to see it. A site's newest ``[hub] site_event_limit`` events are kept, the
facts the hub refused among them (reason ``refused_fact``). An operation record carries
its ``outcome`` at the hub (``adopted``, ``conflict``, ``recorded``, ``refused``).
Fleet-wide data: system readers.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from atoll.api.routing import Route
from atoll.api.schema import Field, Shape, name_field
from atoll.hub.api.context import hub_of
from atoll.hub.api.replies import page_params, page_reply, path_name
from atoll.hub.api.site_objects import site_record
from atoll.hub.sites import intent
from atoll.hub.store.base import ListQuery

PATH = {"site": name_field("site")}
EVENT = Shape(
    "SiteEvent",
    {
        "site_id": Field("string", required=True),
        "seq": Field("integer", required=True, description="the site's sequence number"),
        "event": Field("object", required=True, description="kind, id, reason, message, at"),
    },
)
OPERATION = Shape(
    "SiteOperation",
    {
        "site_id": Field("string", required=True),
        "site": Field("string", required=True),
        "seq": Field("integer", required=True, description="the site's sequence number"),
        "received_at": Field("string", required=True),
        "operation": Field("object", required=True,
                           description="op, kind, id, base_hub_revision, desired, at, actor"),
        "outcome": Field("string", required=True,
                         enum=("adopted", "conflict", "recorded", "refused")),
        "reason": Field("string", description="why a refused record was refused"),
    },
)  # fmt: skip


def _lister(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        store = hub_of(request).store
        site = await site_record(store, path_name(request, "site"))
        limit, marker = page_params(request)
        # keys are <site id>/<seq, zero-padded>: key order is sequence order, and the site's
        # records a range of keys (not a filter over every site's)
        prefix = intent.site_prefix(site["id"])
        query = ListQuery(kind, {"site_id": site["id"]}, limit, marker, prefix)
        page = await store.list(query)
        return page_reply([r.value for r in page.items], page.next_marker)

    return handler


ROUTES = [
    Route("GET", "/v1/sites/{site}/events", "site_events.list", _lister(intent.SITE_EVENT),
          "Events a site reported, in its sequence order", response=EVENT, paged=True,
          path_params=PATH),
    Route("GET", "/v1/sites/{site}/operations", "site_operations.list",
          _lister(intent.SITE_OPERATION),
          "Operations a site made itself (local API, local heal) and what the hub did with "
          "each", response=OPERATION, paged=True, path_params=PATH),
]  # fmt: skip
