"""``/v1/role_assignments``: who holds which role on which project, or on the system.

System admins grant anything. A project admin grants and removes roles on their own
project only, never system roles. Removing a role on a project revokes the user's tokens on
that project (they carry the role), not their tokens elsewhere: before, it revoked every
token of the user, so a project admin who granted any user (the fleet's admin included) a
role on their project and removed it signed that user out of the whole hub. Project
callers list only their project's assignments.
An assignment records its user's id, and on a project the project's id, and is written only
while they exist (:func:`atoll.hub.identity.tenancy.grant`): roles are looked up by those
ids, so a user or project deleted and made again under its name holds nothing of the old
one's. Users and projects stay named by name here (``?user=``, ``?project=``, the key).
"""

from __future__ import annotations

import dataclasses

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import NAME_HELP, NAME_PATTERN, Field, OneOf, Shape, name_field
from atoll.errors import Forbidden, NotFound
from atoll.hub.api import records
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import (
    no_content,
    page_params,
    page_reply,
    query_filters,
    read_body,
    reply,
)
from atoll.hub.identity import assignments, tenancy
from atoll.hub.identity.policy import ROLES, own_project
from atoll.hub.store.base import Record
from atoll.jsonbody import JSON
from atoll.timestamps import now_iso
from atoll.tokens import user_project

KIND = assignments.KIND
ID_PATTERN = r"^[a-z0-9._:-]{1,200}$"
PATH = {"id": Field("string", pattern=ID_PATTERN, max_length=200)}
ROLE = Field("string", required=True, enum=ROLES)
PROJECT_REF = Field("string", nullable=True, pattern=NAME_PATTERN, pattern_help=NAME_HELP)

ASSIGNMENT = Shape(
    "RoleAssignment",
    {
        "id": Field("string", required=True),
        "user": Field("string", required=True),
        "user_id": Field("string", required=True, nullable=True),
        "project": Field("string", required=True, nullable=True),
        "project_id": Field("string", required=True, nullable=True),
        "system": Field("boolean", required=True),
        "role": Field("string", required=True),
        "created_at": Field("string", required=True),
    },
)
ON_PROJECT = Shape(
    "ProjectRoleAssignment",
    {
        "user": name_field("user"),
        "project": dataclasses.replace(PROJECT_REF, required=True, nullable=False),
        "role": ROLE,
    },
)
ON_SYSTEM = Shape(
    "SystemRoleAssignment",
    {
        "user": name_field("user"),
        "system": Field("boolean", required=True, enum=(True,), description="a fleet role"),
        "role": ROLE,
    },
)
ASSIGNMENT_CREATE = OneOf(
    "RoleAssignmentCreate",
    (ON_PROJECT, ON_SYSTEM),
    description="give user and role, and either project, or system: true",
)
QUERY: dict[str, Field] = {
    "user": Field("string", pattern=NAME_PATTERN, max_length=63),
    "project": Field("string", pattern=NAME_PATTERN, max_length=63),
}


async def list_assignments(request: web.Request) -> web.Response:
    claims = claims_of(request)
    limit, marker = page_params(request)
    filters = query_filters(request, QUERY)
    if not claims.system:
        if filters.get("project", claims.project) != claims.project:
            raise NotFound(f"project {filters['project']} does not exist")
        filters["project_id"] = claims.project_id
    store = hub_of(request).store
    page = await records.visible_page(store, KIND, limit, marker, lambda r: True, filters)
    return page_reply([_view(r) for r in page.items], page.next_marker)


async def create_assignment(request: web.Request) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    body = await read_body(request, ASSIGNMENT_CREATE)
    project = body.get("project")
    system = body.get("system", False)
    if system and not claims.system:
        raise Forbidden("only system administrators grant system roles")
    if not own_project(claims, project):
        raise Forbidden(f"you may grant roles only on project {claims.project}")
    record = await tenancy.grant(hub.store, body["user"], project, body["role"], now_iso())
    return reply(_view(record), 201, record.revision)


def _view(record: Record) -> JSON:
    return {"project_id": None, "user_id": None, **record.value}


async def _visible(request: web.Request) -> Record:
    key = request.match_info["id"]
    record = await records.fetch(hub_of(request).store, KIND, key)
    claims = claims_of(request)
    if not (claims.system or tenancy.owns(claims, record.value)):
        raise NotFound(f"role assignment {key} does not exist")
    return record


async def delete_assignment(request: web.Request) -> web.Response:
    record = await _visible(request)
    hub = hub_of(request)
    await records.remove(hub.store, KIND, record.key, None)
    user, project_id = record.value["user"], record.value.get("project_id")
    if project_id is None:  # a system role: the user's tokens may carry it, whatever their scope
        await hub.revocations.revoke("user", user)
    else:  # a project role: only the user's tokens on that project carry it
        await hub.revocations.revoke("user_project", user_project(user, project_id))
    return no_content()


ROUTES = [
    Route(
        "GET",
        "/v1/role_assignments",
        "role_assignments.list",
        list_assignments,
        "List role assignments (filter by user, project)",
        response=ASSIGNMENT,
        paged=True,
        query=QUERY,
    ),
    Route(
        "POST",
        "/v1/role_assignments",
        "role_assignments.create",
        create_assignment,
        "Give a user a role on a project or on the system",
        body=ASSIGNMENT_CREATE,
        response=ASSIGNMENT,
        status=201,
        etag=True,
    ),
    Route(
        "DELETE",
        "/v1/role_assignments/{id}",
        "role_assignments.delete",
        delete_assignment,
        "Remove a role assignment (revokes the user's tokens on its project, or all of them "
        "for a system role: they carry roles)",
        status=204,
        path_params=PATH,
    ),
]
