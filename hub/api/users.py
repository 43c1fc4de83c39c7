"""``/v1/users``: people and automation accounts. Passwords go in, never come out.

Changing a password, disabling or deleting a user revokes every token the user holds.
Deleting a user removes it with its role assignments and application credentials in one
store commit (:func:`atoll.hub.identity.tenancy.end_user`), and granting it a role re-writes
its record in the grant's commit, so a grant racing the delete never outlives the user;
granting a role so moves the user's revision (its ETag) too.
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from atoll import ids
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape, name_field, text_field
from atoll.errors import Conflict, NotFound
from atoll.hub.api import records
from atoll.hub.api.context import claims_of, hub_of, source_of
from atoll.hub.api.replies import (
    if_match,
    no_content,
    page_params,
    page_reply,
    path_name,
    public_view,
    read_body,
    reply,
)
from atoll.hub.identity import tenancy
from atoll.timestamps import now_iso

KIND = "user"
PATH = {"name": name_field("user")}
PASSWORD = Field(
    "string", description="at least 8 characters; never shown again", min_length=8, max_length=1024
)

USER = Shape(
    "User",
    {
        "id": Field("string", required=True),
        "name": Field("string", required=True),
        "description": Field("string", required=True),
        "enabled": Field("boolean", required=True),
        "created_at": Field("string", required=True),
        "updated_at": Field("string"),
    },
)
USER_CREATE = Shape(
    "UserCreate",
    {
        "name": name_field("user"),
        "password": dataclasses.replace(PASSWORD, required=True),
        "description": text_field("who or what this account is"),
        "enabled": Field("boolean", description="default true"),
    },
)
USER_UPDATE = Shape(
    "UserUpdate",
    {
        "password": PASSWORD,
        "description": text_field("who or what this account is"),
        "enabled": Field("boolean"),
    },
)


async def list_users(request: web.Request) -> web.Response:
    limit, marker = page_params(request)
    page = await records.visible_page(hub_of(request).store, KIND, limit, marker, lambda r: True)
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def create_user(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await read_body(request, USER_CREATE)
    value = {
        "id": ids.hub_id(),
        "name": body["name"],
        "description": body.get("description", ""),
        "enabled": body.get("enabled", True),
        "created_at": now_iso(),
        "_password_hash": await hub.passwords.hash(body["password"], source_of(request)),
    }
    record = await records.create(hub.store, KIND, body["name"], value)
    return reply(public_view(record), 201, record.revision)


async def show_user(request: web.Request) -> web.Response:
    name = path_name(request)
    claims = claims_of(request)
    if not claims.system and claims.user != name:
        raise NotFound(f"user {name} does not exist")
    record = await records.fetch(hub_of(request).store, KIND, name)
    return reply(public_view(record), revision=record.revision)


async def update_user(request: web.Request) -> web.Response:
    hub = hub_of(request)
    name = path_name(request)
    body = await read_body(request, USER_UPDATE)
    changes = {k: v for k, v in body.items() if k != "password"}
    if "password" in body:
        changes["_password_hash"] = await hub.passwords.hash(body["password"], source_of(request))
    record = await records.update(hub.store, KIND, name, changes, if_match(request))
    if "password" in body or body.get("enabled") is False:
        await hub.revocations.revoke("user", name)
    return reply(public_view(record), revision=record.revision)


async def delete_user(request: web.Request) -> web.Response:
    hub = hub_of(request)
    name = path_name(request)
    if name == claims_of(request).user:
        raise Conflict("you cannot delete your own user; ask another administrator")
    await tenancy.end_user(hub.store, name, if_match(request))
    await hub.revocations.revoke("user", name)
    return no_content()


ROUTES = [
    Route("GET", "/v1/users", "users.list", list_users, "List users", response=USER, paged=True),
    Route(
        "POST",
        "/v1/users",
        "users.create",
        create_user,
        "Create a user",
        body=USER_CREATE,
        response=USER,
        status=201,
        etag=True,
    ),
    Route(
        "GET",
        "/v1/users/{name}",
        "users.show",
        show_user,
        "Show a user (project callers: only themselves)",
        response=USER,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "PATCH",
        "/v1/users/{name}",
        "users.update",
        update_user,
        "Change a user's password, description or enabled flag (revokes tokens on password "
        "change or disable)",
        body=USER_UPDATE,
        response=USER,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "DELETE",
        "/v1/users/{name}",
        "users.delete",
        delete_user,
        "Delete a user, its role assignments and credentials, and revoke its tokens",
        status=204,
        path_params=PATH,
        etag=True,
    ),
]
