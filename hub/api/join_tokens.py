"""``/v1/join_tokens``: one-time tokens a field engineer gives a new site to enroll it.

Creating one registers the site (``enrolling``) if it is not known yet. The token text is
in the create reply only.
"""

from __future__ import annotations

from aiohttp import web

from atoll.errors import Conflict
from atoll.hub.api import records
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import no_content, page_params, page_reply, public_view, read_body, reply
from atoll.hub.api.routing import Route
from atoll.hub.api.schema import Field, Shape, name_field
from atoll.hub.sites import registry

KIND = registry.JOIN_TOKEN_KIND
PATH = {"id": Field("string", pattern=r"^[0-9a-f]{16}$", max_length=16)}

JOIN_FIELDS = {
    "id": Field("string", required=True),
    "site": Field("string", required=True),
    "created_by": Field("string", required=True),
    "created_at": Field("string", required=True),
    "expires_at": Field("string", required=True),
    "used_at": Field("string", required=True, nullable=True),
}
JOIN_TOKEN = Shape("JoinToken", JOIN_FIELDS)
JOIN_TOKEN_CREATED = Shape(
    "JoinTokenWithSecret",
    {**JOIN_FIELDS, "token": Field("string", required=True, description="shown once")},
)
JOIN_CREATE = Shape(
    "JoinTokenCreate",
    {
        "site": name_field("site"),
        "ttl": Field(
            "integer", minimum=60, maximum=7 * 86400, description="seconds (default 3600)"
        ),
    },
)


async def list_tokens(request: web.Request) -> web.Response:
    limit, marker = page_params(request)
    page = await records.visible_page(hub_of(request).store, KIND, limit, marker, lambda r: True)
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def create_token(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await read_body(request, JOIN_CREATE)
    now = hub.clock()
    try:
        await records.create(
            hub.store, registry.SITE_KIND, body["site"], registry.new_site(body["site"], {}, now)
        )
    except Conflict:
        site = await records.fetch(hub.store, registry.SITE_KIND, body["site"])
        if site.value["state"] != "enrolling":
            raise Conflict(
                f"site {body['site']} is already enrolled ({site.value['state']}); delete it "
                "first to enroll it again"
            ) from None
    text, value = registry.new_join_token(
        body["site"], body.get("ttl", 3600), claims_of(request).user, now
    )
    record = await records.create(hub.store, KIND, value["id"], value)
    return reply({**public_view(record), "token": text}, 201, record.revision)


async def delete_token(request: web.Request) -> web.Response:
    await records.remove(hub_of(request).store, KIND, request.match_info["id"], None)
    return no_content()


ROUTES = [
    Route(
        "GET",
        "/v1/join_tokens",
        "join_tokens.list",
        list_tokens,
        "List join tokens (never their secrets)",
        response=JOIN_TOKEN,
        paged=True,
    ),
    Route(
        "POST",
        "/v1/join_tokens",
        "join_tokens.create",
        create_token,
        "Create a one-time join token for a site (the token is shown once)",
        body=JOIN_CREATE,
        response=JOIN_TOKEN_CREATED,
        status=201,
        etag=True,
    ),
    Route(
        "DELETE",
        "/v1/join_tokens/{id}",
        "join_tokens.delete",
        delete_token,
        "Revoke a join token",
        status=204,
        path_params=PATH,
    ),
]
