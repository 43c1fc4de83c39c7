"""``/v1/join_tokens``: one-time tokens a field engineer gives a new site to enroll it.

Creating one registers the site (``enrolling``) if it is not known yet; a site that is
``offline`` (its certificate expired while it was cut off, say) may get a token to join
again, keeping its id. The token text is in the create reply only, alone and inside the
join code (:class:`atoll.sync.join.JoinCode`: the hub's ``public_url``, the token and the
hub CA's pin), the one line ``atoll site-agent join`` takes.
"""

from __future__ import annotations

import logging

from aiohttp import web
from cryptography import x509

from atoll import certs
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape, name_field
from atoll.errors import Conflict
from atoll.hub.api import records
from atoll.hub.api.context import Hub, claims_of, hub_of
from atoll.hub.api.replies import no_content, page_params, page_reply, public_view, read_body, reply
from atoll.hub.sites import registry
from atoll.sync.join import JoinCode

log = logging.getLogger(__name__)

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
    {
        **JOIN_FIELDS,
        "token": Field("string", required=True, description="shown once"),
        "code": Field(
            "string",
            required=True,
            nullable=True,
            description="the join code (hub URL, token, CA pin) for 'atoll site-agent join'; "
            "null when the hub serves plain HTTP",
        ),
    },
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
        if site.value["state"] not in ("enrolling", "offline"):
            raise Conflict(
                f"site {body['site']} is already enrolled ({site.value['state']}); a site joins "
                "again once it is offline, or delete it first to enroll it anew"
            ) from None
    text, value = registry.new_join_token(
        body["site"], body.get("ttl", 3600), claims_of(request).user, now
    )
    record = await records.create(hub.store, KIND, value["id"], value)
    data = {**public_view(record), "token": text, "code": join_code(hub, text)}
    return reply(data, 201, record.revision)


def join_code(hub: Hub, token: str) -> str | None:
    """The join code for ``token``, or None when the hub serves plain HTTP."""
    url = hub.settings.advertised_url()
    if not url.startswith("https://"):
        return None
    try:
        ca = x509.load_pem_x509_certificate(hub.settings.ca_cert.read_bytes())
    except (OSError, ValueError) as exc:
        log.warning("no join code: cannot read the hub CA %s: %s", hub.settings.ca_cert, exc)
        return None
    return JoinCode(url, token, certs.ca_pin(ca)).encode()


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
