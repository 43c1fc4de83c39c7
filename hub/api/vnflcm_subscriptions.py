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
shown. Every request carries ``Version: 2.0.0`` (400 without, 406 for another version).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from atoll import jsonbody
from atoll.api.schema import Field
from atoll.errors import InvalidInput
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import no_content, reply
from atoll.hub.api.routing import Route
from atoll.hub.lcm import subscriptions
from atoll.hub.lcm.callbacks import Subscriber, check_address
from atoll.jsonbody import JSON
from atoll.nfv.lcm.notifications import LccnSubscriptionRequest
from atoll.nfv.sol013 import check_version, parse_filter, select
from atoll.resources.fields import schema as model_schema

BASE = "/vnflcm/v2/subscriptions"
ITEM = BASE + "/{subscriptionId}"
VERSION = "2.0.0"


class RequestBody:
    """The LccnSubscriptionRequest as the OpenAPI document shows it (the model's schema)."""

    name = "LccnSubscriptionRequest"

    def schema(self) -> JSON:
        return model_schema(LccnSubscriptionRequest)


class SubscriptionView:
    """An LccnSubscription as read back (the request without ``authentication``)."""

    name = "LccnSubscription"

    def schema(self) -> JSON:
        out = model_schema(LccnSubscriptionRequest, leave_out=("authentication",))
        out["properties"] = {
            "id": {"type": "string"},
            **out["properties"],
            "_links": {"type": "object"},
        }
        out["required"] = ["id", *out.get("required", []), "_links"]
        return out


class SubscriptionList:
    name = "LccnSubscriptionList"

    def schema(self) -> JSON:
        return {"type": "array", "items": SubscriptionView().schema()}


def _version(request: web.Request) -> None:
    """Check a ``Version`` header when one is sent (interim: the SOL013 layer requires it)."""
    if "Version" in request.headers:
        check_version(request.headers["Version"])


def _versioned(response: web.Response) -> web.Response:
    response.headers["Version"] = VERSION
    return response


async def _body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise InvalidInput(
            f"the request body must be JSON (Content-Type: application/json), "
            f"not {request.content_type or 'nothing'}"
        )
    raw = await request.read()
    return jsonbody.loads(raw, max_bytes=hub_of(request).settings.max_body_bytes)


async def create(request: web.Request) -> web.Response:
    _version(request)
    hub, claims = hub_of(request), claims_of(request)
    sub = LccnSubscriptionRequest.from_wire(await _body(request), where="body", strict=True)
    settings = hub.settings
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
    assert claims.project_id is not None  # the policy admits only project members here
    record = await subscriptions.create(hub.store, claims.project_id, sub)
    view = subscriptions.view(record, settings.advertised_url())
    response = _versioned(reply(view, 201))
    response.headers["Location"] = view["_links"]["self"]["href"]
    return response


def _project(request: web.Request) -> str | None:
    claims = claims_of(request)
    return None if claims.system else claims.project_id


async def list_(request: web.Request) -> web.Response:
    _version(request)
    filters = parse_filter(request.query["filter"]) if "filter" in request.query else ()
    hub = hub_of(request)
    base = hub.settings.advertised_url()
    records = await subscriptions.listed(hub.store, _project(request))
    views = [subscriptions.view(r, base) for r in records]
    return _versioned(reply(select(views, filters)))


async def show(request: web.Request) -> web.Response:
    _version(request)
    hub = hub_of(request)
    key = request.match_info["subscriptionId"]
    record = await subscriptions.find(hub.store, key, _project(request))
    return _versioned(reply(subscriptions.view(record, hub.settings.advertised_url())))


async def delete(request: web.Request) -> web.Response:
    _version(request)
    hub = hub_of(request)
    key = request.match_info["subscriptionId"]
    await subscriptions.remove(
        hub.store, await subscriptions.find(hub.store, key, _project(request))
    )
    return _versioned(no_content())


ONE = {"subscriptionId": Field("string", required=True, max_length=255)}
FILTER = {
    "filter": Field(
        "string",
        max_length=2000,  # printable ASCII, so the request line stays within aiohttp's 8 KiB
        pattern=r"^[ -~]*$",
        pattern_help="printable ASCII (percent-encoded in the URL)",
        description="SOL013 attribute filter, e.g. (eq,callbackUri,http://vnfm/cb)",
    )
}
ROUTES = [
    Route("GET", BASE, "vnflcm_subscriptions.list", list_, "List LCM notification "
          "subscriptions (a bare array)", response=SubscriptionList(), query=FILTER),
    Route("POST", BASE, "vnflcm_subscriptions.create", create, "Subscribe to LCM "
          "notifications", description="The hub GETs callbackUri first: anything but 204 "
          "is 422. Callbacks on loopback or link-local addresses are refused (422). "
          "Needs the Version header (2.0.0).", body=RequestBody(),
          response=SubscriptionView(), status=201),
    Route("GET", ITEM, "vnflcm_subscriptions.show", show, "Show an LCM notification "
          "subscription", response=SubscriptionView(), path_params=ONE),
    Route("DELETE", ITEM, "vnflcm_subscriptions.delete", delete, "End an LCM notification "
          "subscription", status=204, path_params=ONE),
]  # fmt: skip
