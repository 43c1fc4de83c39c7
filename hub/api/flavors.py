"""``/v1/flavors``: instance sizes and telco extra specs, public or private to projects.

Names are unique per namespace (:mod:`atoll.hub.catalog.flavors`): a project's own flavors
in its namespace, system administrators' in the public one. ``/v1/flavors/{name}`` from a
project finds the project's own flavor of that name first, then a public-namespace one it
may use; a flavor's ``id`` works there too. System administrators find public-namespace
names first, then a project's flavor whose name no other project uses (else: give the id).
"""

from __future__ import annotations

from aiohttp import web

from atoll import ids
from atoll.api.routing import Route
from atoll.api.schema import NAME_HELP, NAME_PATTERN, Field, Shape, name_field, text_field
from atoll.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, StaleRevision
from atoll.hub.api import records
from atoll.hub.api.context import claims_of, hub_of
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
from atoll.hub.identity import tenancy
from atoll.hub.store.base import Record, Store
from atoll.timestamps import now_iso

KIND = flavors.KIND
PATH = {"name": name_field("flavor")}

EXTRA_SPECS = Shape(
    "FlavorExtraSpecs",
    {
        "dedicated_cpus": Field("boolean", description="pin each vCPU to a host CPU"),
        "hugepages": Field("string", enum=tuple(flavors.HUGEPAGE_MB), description="page size"),
        "numa_nodes": Field("integer", minimum=1, maximum=8, description="guest NUMA nodes"),
        "sriov_ports": Field("integer", minimum=0, maximum=16, description="SR-IOV VF ports"),
    },
)
PROJECT_LIST = Field(
    "array",
    items=Field("string", pattern=NAME_PATTERN, pattern_help=NAME_HELP, max_length=63),
    max_items=256,
    unique_items=True,
    description="projects that may use a private flavor",
)
FLAVOR = Shape(
    "Flavor",
    {
        "id": Field("string", required=True),
        "name": Field("string", required=True),
        "description": Field("string", required=True),
        "vcpus": Field("integer", required=True),
        "ram_mb": Field("integer", required=True),
        "disk_gb": Field("integer", required=True),
        "extra_specs": Field("object", required=True, shape=EXTRA_SPECS),
        "public": Field("boolean", required=True),
        "projects": Field("array", required=True, items=Field("string")),
        "project_ids": Field("array", required=True, items=Field("string")),
        "owner": Field("string", required=True, nullable=True),
        "project_id": Field(
            "string", required=True, nullable=True, description="the owning project's id"
        ),
        "created_at": Field("string", required=True),
    },
)
FLAVOR_CREATE = Shape(
    "FlavorCreate",
    {
        "name": name_field("flavor"),
        "description": text_field("what it is for"),
        "vcpus": Field("integer", required=True, minimum=1, maximum=512),
        "ram_mb": Field("integer", required=True, minimum=16, maximum=4 * 1024 * 1024),
        "disk_gb": Field("integer", required=True, minimum=0, maximum=65536),
        "extra_specs": Field("object", shape=EXTRA_SPECS),
        "public": Field("boolean", description="default: true for system admins"),
        "projects": PROJECT_LIST,
    },
)


async def list_flavors(request: web.Request) -> web.Response:
    claims = claims_of(request)
    limit, marker = page_params(request)
    store = hub_of(request).store
    page = await records.visible_page(
        store, KIND, limit, marker, lambda r: flavors.visible(flavors.Flavor.of(r), claims)
    )
    return page_reply([public_view(r) for r in page.items], page.next_marker)


async def create_flavor(request: web.Request) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    body = await read_body(request, FLAVOR_CREATE)
    if claims.system:
        public = body.get("public", not body.get("projects"))
        projects, owner, owner_id = body.get("projects", []), None, None
        project_ids = await _project_ids(hub.store, projects)
    elif claims.project_id is not None:
        if body.get("public") or set(body.get("projects", [])) - {claims.project}:
            raise Forbidden(
                f"project members create flavors private to their project ({claims.project})"
            )
        public, projects, owner = False, [claims.project], claims.project
        owner_id = claims.project_id
        project_ids = [claims.project_id]
    else:
        raise InvalidInput("flavors belong to a project or the system: use a scoped token")
    flavor = flavors.Flavor(
        id=ids.hub_id(),
        name=body["name"],
        description=body.get("description", ""),
        vcpus=body["vcpus"],
        ram_mb=body["ram_mb"],
        disk_gb=body["disk_gb"],
        extra_specs=flavors.ExtraSpecs.from_wire(
            body.get("extra_specs", {}), where="body.extra_specs"
        ),
        public=public,
        projects=tuple(projects),
        project_ids=tuple(project_ids),
        owner=owner,
        project_id=owner_id,
        created_at=now_iso(),
    )
    problems = flavor.inconsistencies()
    if problems:
        raise InvalidInput("the flavor is not consistent", problems)
    value = flavor.to_wire()
    try:
        record = await hub.store.put(
            KIND, flavors.key(owner_id, body["name"]), value, expect_revision=0
        )
    except StaleRevision as exc:
        where = f"project {owner}" if owner else "the public namespace"
        raise Conflict(f"flavor {body['name']} already exists in {where}") from exc
    records.created(KIND, record.key, value)
    return reply(public_view(record), 201, record.revision)


async def _project_ids(store: Store, names: list[str]) -> list[str]:
    """The ids of the projects on an access list; InvalidInput naming any that is missing."""
    found, problems = [], []
    for index, name in enumerate(names):
        try:
            found.append((await tenancy.project(store, name)).value["id"])
        except NotFound:
            problems.append(Problem(f"body.projects[{index}]", f"project {name} does not exist"))
    if problems:
        raise InvalidInput("the flavor's access list names projects that do not exist", problems)
    return found


async def _visible(request: web.Request) -> Record:
    """The flavor the path names (see :func:`atoll.hub.catalog.flavors.find`)."""
    return await flavors.find(hub_of(request).store, claims_of(request), path_name(request))


async def show_flavor(request: web.Request) -> web.Response:
    record = await _visible(request)
    return reply(public_view(record), revision=record.revision)


async def delete_flavor(request: web.Request) -> web.Response:
    record = await _visible(request)
    claims = claims_of(request)
    if not flavors.may_delete(flavors.Flavor.of(record), claims):
        raise Forbidden(f"flavor {record.value['name']} is not your project's to delete")
    await records.remove(hub_of(request).store, KIND, record.key, if_match(request))
    return no_content()


ROUTES = [
    Route(
        "GET",
        "/v1/flavors",
        "flavors.list",
        list_flavors,
        "List the flavors you may use",
        response=FLAVOR,
        paged=True,
    ),
    Route(
        "POST",
        "/v1/flavors",
        "flavors.create",
        create_flavor,
        "Create a flavor (project members: private to their project)",
        description="Beyond the schema: ram_mb is a multiple of the hugepage size, vcpus "
        "split evenly over numa_nodes (and are at least as many), and a public flavor has no "
        "projects list. A request breaking these rules answers 400 naming the field.",
        body=FLAVOR_CREATE,
        response=FLAVOR,
        status=201,
        etag=True,
    ),
    Route(
        "GET",
        "/v1/flavors/{name}",
        "flavors.show",
        show_flavor,
        "Show a flavor (by name: your project's own first, then a public one; or by id)",
        response=FLAVOR,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "DELETE",
        "/v1/flavors/{name}",
        "flavors.delete",
        delete_flavor,
        "Delete a flavor",
        status=204,
        path_params=PATH,
        etag=True,
    ),
]
