"""``/vnflcm/v2/subscriptions``: SOL003 LCM notification subscriptions, per project.

``POST`` takes an LccnSubscriptionRequest (``callbackUri``; ``filter`` by
``vnfInstanceSubscriptionFilter`` (vnfdIds, vnfInstanceIds, names, products),
``notificationTypes``, ``operationTypes``, ``operationStates``; ``authentication`` BASIC or
OAUTH2_CLIENT_CREDENTIALS; ``verbosity``). Before anything is stored the hub calls the
callback once (``GET``, with the authentication given): anything but 204 is 422, and so is
a callback (or token endpoint) on a loopback, link-local or unspecified address
(:mod:`atoll.hub.lcm.callbacks`). A created subscription answers 201 with ``Location`` and
gets every notification recorded from then on (:mod:`atoll.hub.lcm.delivery`).

``GET`` lists (a bare array, SOL013 ``?filter=`` on the subscription as it reads), ``GET``
one, ``DELETE`` one (204). A subscription belongs to the creator's project: only project
members create one, others' look absent, system callers see all. Credentials are never
shown. SOL013 as :mod:`.sol013` does it: ``Version: 2.0.0`` (400 without, 406 for another
version), ProblemDetails errors, ``Link`` paging.
"""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.errors import InvalidInput, Problem
from atoll.hub.api import sol013
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import no_content, read_json, reply
from atoll.hub.identity.limits import check_room
from atoll.hub.lcm import subscriptions
from atoll.hub.lcm.callbacks import Subscriber, check_address
from atoll.jsonbody import JSON
from atoll.nfv.lcm.notifications import LccnSubscriptionRequest
from atoll.resources.fields import schema as model_schema

BASE = "/vnflcm/v2/subscriptions"
ITEM = BASE + "/{subscriptionId}"


class RequestBody:
    """The LccnSubscriptionRequest as the OpenAPI document shows it (the model's schema)."""

    name = "LccnSubscriptionRequest"

    def schema(self) -> JSON:
        return model_schema(LccnSubscriptionRequest)


SUBSCRIPTION = Shape(
    "LccnSubscription",
    {
        "id": Field("string", required=True),
        "callbackUri": Field("string", required=True),
        "filter": Field("object", description="as given at creation"),
        "verbosity": Field("string", required=True, enum=("FULL", "SHORT")),
        "_links": Field("object", required=True, description="self"),
    },
    description="a subscription as read back: never its authentication",
)
LISTING = sol013.Listing(SUBSCRIPTION, complex=())
# SOL003 lists subscriptions with a filter and paging only (no attribute selectors); the
# filter is printable ASCII, so the request line stays within aiohttp's 8 KiB whatever it is
QUERY = {
    "filter": Field(
        "string",
        max_length=1400,
        pattern=r"^[ -~]*$",
        pattern_help="printable ASCII (percent-encoded in the URL)",
        description=sol013.FILTER.description,
    ),
    sol013.MARKER: sol013.PAGE_MARKER,
}


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


async def create(request: web.Request) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    sub = LccnSubscriptionRequest.from_wire(await read_json(request), where="body", strict=True)
    settings = hub.settings
    assert claims.project_id is not None  # the policy admits only project members here
    await check_room(hub.store, subscriptions.KIND, claims.project_id,
                     settings.lcm_subscription_limit, "LCM subscriptions",
                     "lcm_subscription_limit")  # fmt: skip
    auth = sub.authentication
    params = auth.params_oauth2_client_credentials if auth is not None else None
    if params is not None:
        where = "body.authentication.paramsOauth2ClientCredentials.tokenEndpoint"
        await check_address(params.token_endpoint, where, settings.lcm_callback_loopback)
    subscriber = Subscriber(
        sub,
        timeout=settings.lcm_callback_timeout,
        allow_loopback=settings.lcm_callback_loopback,
        clock=hub.clock,
    )
    try:
        await subscriber.test()
    finally:
        await subscriber.close()
    record = await subscriptions.create(hub.store, claims.project_id, sub)
    view = subscriptions.view(record, _origin(request))
    response = reply(view, 201)
    response.headers["Location"] = view["_links"]["self"]["href"]
    return response


def _project(request: web.Request) -> str | None:
    claims = claims_of(request)
    return None if claims.system else claims.project_id


async def list_(request: web.Request) -> web.Response:
    query = LISTING.parse(request)
    hub = hub_of(request)
    records = await subscriptions.listed(hub.store, _project(request))
    views = [v for r in records if query.matches(v := subscriptions.view(r, _origin(request)))]
    start = 0
    if query.marker is not None:
        after = [i for i, v in enumerate(views) if v["id"] == query.marker]
        if not after:
            raise InvalidInput(
                "the page marker is not valid",
                [Problem(f"query.{sol013.MARKER}", "give the one from the previous page's Link")],
            )
        start = after[0] + 1
    page = views[start : start + query.limit]
    more = start + query.limit < len(views)
    return LISTING.reply(request, page, page[-1]["id"] if more else None, query)


async def show(request: web.Request) -> web.Response:
    hub = hub_of(request)
    key = request.match_info["subscriptionId"]
    record = await subscriptions.find(hub.store, key, _project(request))
    return reply(subscriptions.view(record, _origin(request)))


async def delete(request: web.Request) -> web.Response:
    hub = hub_of(request)
    key = request.match_info["subscriptionId"]
    await subscriptions.remove(
        hub.store, await subscriptions.find(hub.store, key, _project(request))
    )
    return no_content()


ONE = {"subscriptionId": Field("string", required=True, max_length=255)}
ROUTES = [
    Route("GET", BASE, "vnflcm_subscriptions.list", list_, "List LCM notification "
          "subscriptions (a bare array, Link paging)", response=LISTING.response(),
          query=QUERY),
    Route("POST", BASE, "vnflcm_subscriptions.create", create, "Subscribe to LCM "
          "notifications", description="The hub GETs callbackUri first: anything but 204 "
          "is 422. Callbacks on loopback or link-local addresses are refused (422). A project "
          "holds at most [hub] lcm_subscription_limit subscriptions (403 over_limit).",
          body=RequestBody(), response=SUBSCRIPTION, status=201),
    Route("GET", ITEM, "vnflcm_subscriptions.show", show, "Show an LCM notification "
          "subscription", response=SUBSCRIPTION, path_params=ONE),
    Route("DELETE", ITEM, "vnflcm_subscriptions.delete", delete, "End an LCM notification "
          "subscription", status=204, path_params=ONE),
]  # fmt: skip
