"""``/v1/application_credentials``: id + secret for automation, scoped to one project.

A credential belongs to the user and project of the token that made it, carries a subset
of that token's roles, and may expire. Its secret is shown once, in the create reply; only
a digest is stored. Deleting one revokes the tokens issued from it. A token issued from a
credential may not make another one or delete any other (as Keystone's restricted
credentials): before, a credential handed to one tool deleted the user's others, cutting
off every automation the user ran with them.
"""

from __future__ import annotations

from aiohttp import web

from atoll import ids
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape, name_field, text_field, time_field
from atoll.errors import Forbidden, InvalidInput, NotFound, Problem
from atoll.hub.api import records
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import (
    no_content,
    page_params,
    page_reply,
    parse_body_time,
    path_id,
    public_view,
    read_body,
    reply,
)
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND, secret_digest
from atoll.hub.identity.limits import check_user_room
from atoll.hub.identity.policy import ROLES
from atoll.hub.identity.tenancy import owns, user_id
from atoll.hub.store.base import Record
from atoll.passwords import new_secret
from atoll.timestamps import iso, now_iso

KIND = APP_CREDENTIAL_KIND
PATH = {
    "id": Field("string", pattern=ids.PATTERN, pattern_help=ids.HELP, max_length=ids.MAX_LENGTH)
}

CREDENTIAL_FIELDS = {
    "id": Field("string", required=True),
    "name": Field("string", required=True),
    "description": Field("string", required=True),
    "user": Field("string", required=True),
    "user_id": Field("string", required=True, nullable=True),
    "project": Field("string", required=True),
    "project_id": Field("string", required=True),
    "roles": Field("array", required=True, items=Field("string")),
    "expires_at": Field("string", required=True, nullable=True),
    "created_at": Field("string", required=True),
}
CREDENTIAL = Shape("ApplicationCredential", CREDENTIAL_FIELDS)
CREATED = Shape(
    "ApplicationCredentialWithSecret",
    {**CREDENTIAL_FIELDS, "secret": Field("string", required=True, description="shown once")},
)
CREATE = Shape(
    "ApplicationCredentialCreate",
    {
        "name": name_field("application credential"),
        "description": text_field("what uses it"),
        "roles": Field(
            "array",
            items=Field("string", enum=ROLES),
            max_items=3,
            unique_items=True,
            description="a subset of your token's roles (default: all of them)",
        ),
        "expires_at": time_field("when it stops working", nullable=True, required=False),
    },
)


async def list_credentials(request: web.Request) -> web.Response:
    claims = claims_of(request)
    limit, marker = page_params(request)
    filters = {"user_id": user_id(claims), "project_id": claims.project_id}
    store = hub_of(request).store
    page = await records.visible_page(store, KIND, limit, marker, lambda r: True, filters)
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def create_credential(request: web.Request) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    body = await read_body(request, CREATE)
    if claims.app_credential is not None:
        raise Forbidden("a token from an application credential cannot make another one")
    roles = body.get("roles") or list(claims.roles)
    if not set(roles) <= set(claims.roles):
        raise Forbidden(f"you can give a credential only roles you hold: {', '.join(claims.roles)}")
    expires = body.get("expires_at")
    expires_epoch = parse_body_time(expires, "body.expires_at") if expires else None
    if expires_epoch is not None and expires_epoch <= hub.clock():
        raise InvalidInput(
            "the credential would never work", [Problem("body.expires_at", "is in the past")]
        )
    holder = user_id(claims)
    await check_user_room(hub.store, KIND, holder, claims.user, hub.settings.app_credential_limit,
                          "application credentials", "app_credential_limit")  # fmt: skip
    secret = new_secret("atac_", 32)
    value = {
        "id": ids.hub_id(),
        "name": body["name"],
        "description": body.get("description", ""),
        "user": claims.user,
        "user_id": holder,
        "project": claims.project,
        "project_id": claims.project_id,
        "roles": sorted(roles),
        "expires_at": iso(expires_epoch) if expires_epoch is not None else None,
        "created_at": now_iso(),
        "_expires_epoch": expires_epoch,
        "_secret_hash": secret_digest(secret),
    }
    record = await records.create(hub.store, KIND, value["id"], value)
    return reply({**public_view(record), "secret": secret}, 201, record.revision)


async def _own(request: web.Request) -> Record:
    claims = claims_of(request)
    key = path_id(request)
    try:
        record = await hub_of(request).store.get(KIND, key)
    except NotFound:
        record = None
    mine = record is not None and record.value.get("user_id") == user_id(claims)
    if record is None or not mine or not owns(claims, record.value):
        raise NotFound(f"application credential {key} does not exist")
    return record


async def show_credential(request: web.Request) -> web.Response:
    record = await _own(request)
    return reply(public_view(record), revision=record.revision)


async def delete_credential(request: web.Request) -> web.Response:
    record = await _own(request)
    made_by = claims_of(request).app_credential
    if made_by is not None and made_by != record.key:
        raise Forbidden(
            f"a token from application credential {made_by} cannot delete another one "
            "(log in with your password)"
        )
    hub = hub_of(request)
    await records.remove(hub.store, KIND, record.key, None)
    await hub.revocations.revoke("application_credential", record.key)
    return no_content()


ROUTES = [
    Route(
        "GET",
        "/v1/application_credentials",
        "application_credentials.list",
        list_credentials,
        "List your application credentials in this project",
        response=CREDENTIAL,
        paged=True,
    ),
    Route(
        "POST",
        "/v1/application_credentials",
        "application_credentials.create",
        create_credential,
        "Create an application credential (the secret is shown once)",
        description="Beyond the schema: expires_at must be a real time in the future "
        "(400 otherwise).",
        body=CREATE,
        response=CREATED,
        status=201,
        etag=True,
    ),
    Route(
        "GET",
        "/v1/application_credentials/{id}",
        "application_credentials.show",
        show_credential,
        "Show one of your application credentials",
        response=CREDENTIAL,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "DELETE",
        "/v1/application_credentials/{id}",
        "application_credentials.delete",
        delete_credential,
        "Delete an application credential and revoke its tokens",
        description="A token issued from an application credential may delete only that "
        "one (403 otherwise).",
        status=204,
        path_params=PATH,
    ),
]
