"""``/v1/projects``: tenants. Everything a user owns lives in one project.

System callers see every project; anyone else sees the projects they hold a role on, and
another project's name answers 404, as if it did not exist.

A project is owned by its ``id``, never its name (:mod:`atoll.hub.identity.tenancy`).
Deleting one removes it, its role assignments and application credentials in one store
commit, revokes its tokens, then removes what it owned in the catalog: its private images
(public ones pass to the system scope, as packages of other projects may use them), its
VNF packages, its flavors and its alarms. A project created later under the same name starts
empty.

That removal is a purge (:mod:`atoll.hub.api.purges`, :data:`PURGE`): its intent is written
in the deleting commit (a ``project_purge`` record, :func:`atoll.hub.identity.tenancy.
end_project`), so a part that fails, or a hub stopped meanwhile, is carried out again later:
no deleted project's images, packages or alarm webhooks are left behind for good. The delete
answers 204 once the project is gone.
"""

from __future__ import annotations

from aiohttp import web

from atoll import ids
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape, name_field, text_field
from atoll.errors import NotFound
from atoll.hub.alarms import records as alarms
from atoll.hub.api import images, purges, records, vnf_packages
from atoll.hub.api.context import HUB, claims_of, hub_of
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
from atoll.hub.catalog import flavors
from atoll.hub.identity import assignments, tenancy
from atoll.hub.identity.policy import own_project
from atoll.hub.store.base import Record
from atoll.timestamps import iso, now_iso

KIND = "project"
PATH = {"name": name_field("project")}

PROJECT = Shape(
    "Project",
    {
        "id": Field("string", required=True),
        "name": Field("string", required=True),
        "description": Field("string", required=True),
        "created_at": Field("string", required=True),
        "updated_at": Field("string"),
    },
)
PROJECT_CREATE = Shape(
    "ProjectCreate",
    {"name": name_field("project"), "description": text_field("what the project is for")},
)
PROJECT_UPDATE = Shape("ProjectUpdate", {"description": text_field("what the project is for")})


async def list_projects(request: web.Request) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    limit, marker = page_params(request)
    mine: set[str] = set()
    if not claims.system:
        mine = await assignments.projects_of(hub.store, tenancy.user_id(claims))

    def visible(record: Record) -> bool:
        return claims.system or record.value.get("id") in mine

    page = await records.visible_page(hub.store, KIND, limit, marker, visible)
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def create_project(request: web.Request) -> web.Response:
    hub = hub_of(request)
    body = await read_body(request, PROJECT_CREATE)
    value = {
        "id": ids.hub_id(),
        "name": body["name"],
        "description": body.get("description", ""),
        "created_at": now_iso(),
    }
    record = await records.create(hub.store, KIND, body["name"], value)
    return reply(public_view(record), 201, record.revision)


async def _visible(request: web.Request) -> tuple[str, Record]:
    name = path_name(request)
    if not own_project(claims_of(request), name):
        raise NotFound(f"project {name} does not exist")
    return name, await records.fetch(hub_of(request).store, KIND, name)


async def show_project(request: web.Request) -> web.Response:
    _, record = await _visible(request)
    return reply(public_view(record), revision=record.revision)


async def update_project(request: web.Request) -> web.Response:
    name, _ = await _visible(request)
    body = await read_body(request, PROJECT_UPDATE)
    expect = if_match(request)
    record = await records.update(hub_of(request).store, KIND, name, body, expect)
    return reply(public_view(record), revision=record.revision)


async def delete_project(request: web.Request) -> web.Response:
    """Delete the project, its role assignments and credentials; revoke its tokens; remove
    what it owned."""
    hub = hub_of(request)
    name = path_name(request)
    project_id = await tenancy.end_project(hub.store, name, if_match(request), iso(hub.clock()))
    await hub.revocations.revoke("project", name)
    await purges.after_delete(request.app, tenancy.PURGE_KIND, project_id, PURGE)
    return no_content()


async def _flavors(app: web.Application, project_id: str) -> None:
    await flavors.forget_project(app[HUB].store, project_id)


async def _alarms(app: web.Application, project_id: str) -> None:
    await alarms.forget_project(app[HUB].store, project_id)


# What a deleted project leaves, removed by its purge (atoll.hub.api.purges)
PURGE: tuple[purges.Part, ...] = (
    images.forget_project,
    vnf_packages.forget_project,
    _flavors,
    _alarms,
)


ROUTES = [
    Route(
        "GET",
        "/v1/projects",
        "projects.list",
        list_projects,
        "List projects (system: all; others: those they hold a role on)",
        response=PROJECT,
        paged=True,
    ),
    Route(
        "POST",
        "/v1/projects",
        "projects.create",
        create_project,
        "Create a project",
        body=PROJECT_CREATE,
        response=PROJECT,
        status=201,
        etag=True,
    ),
    Route(
        "GET",
        "/v1/projects/{name}",
        "projects.show",
        show_project,
        "Show a project",
        response=PROJECT,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "PATCH",
        "/v1/projects/{name}",
        "projects.update",
        update_project,
        "Change a project's description",
        body=PROJECT_UPDATE,
        response=PROJECT,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "DELETE",
        "/v1/projects/{name}",
        "projects.delete",
        delete_project,
        "Delete a project, its role assignments and credentials, and revoke its tokens",
        description="What the project owned goes too: its private images, VNF packages "
        "and flavors (its public images pass to the system scope). A project created later "
        "under the same name starts empty.",
        status=204,
        path_params=PATH,
        etag=True,
    ),
]
