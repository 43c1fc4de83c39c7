"""``/v1/sites/{site}/servers|networks|subnets|volumes``: intent placed at one site.

Each object is a ``site_object`` in the store (:mod:`atoll.hub.sites.intent`); the sync
endpoint streams it to the site, which reports its status back. Project members create in
their token's project and see only their project's objects (another project's look absent);
readers read; system admins see and manage all (and name the ``project`` when creating).

A create body is ``{"name", "spec", "labels"?, "project"?}``; ``spec`` is checked by the
typed model of its kind (:class:`atoll.resources.ServerSpec`, ``NetworkSpec``,
``SubnetSpec``, ``VolumeSpec``; unknown fields refused). A server's ``flavor`` and
``image``/``kernel``/``ramdisk`` name hub catalog entries (name or id) the caller may use;
the hub writes their ids into the spec and places, in the same commit, the ``flavor`` and
``image`` objects the site needs if the site does not have them yet. A NIC's ``network``, a
subnet's ``network`` and a volume's ``server`` name objects at the same site (name or id) and
are written as ids.

A network on one of a site's physical networks (``physical_network``: a flat network on the
uplink, or a VLAN of it) is a provider network: a system admin places it, for the project
that is to use it (as Neutron's provider attributes are an admin's); a project caller gets
403. Before, any project member put its servers on any VLAN of a site's uplink, and held a
VLAN id or the uplink's flat segment at a site first so that another tenant's network on it
could never be wired there (the site refuses a segment it already carries).

Every object answers (lists: ``{"items": [...], "next_marker"}``)::

    {"id", "name", "project_id", "site", "kind", "origin": "hub"|"site",
     "hub_revision": the store revision of the intent (also its ETag),
     "spec": {...the kind's spec...},
     "status": null | {"state", "message", "seq", "observed_generation", "facts"},
     "conflict": null | the id of an open conflict (see /v1/conflicts)}

Server actions ``POST .../servers/{id}/reboot|stop|start`` change the spec (``reboots``
counter and ``reboot_hard``; ``power``), so they are idempotent however often they are
delivered.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from atoll import ids
from atoll.api.routing import Route
from atoll.api.schema import LABELS, NAME_HELP, NAME_PATTERN, Field, Shape
from atoll.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, StaleRevision
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import (
    if_match,
    no_content,
    page_params,
    page_reply,
    path_name,
    read_body,
    reply,
)
from atoll.hub.catalog import flavors
from atoll.hub.catalog import images as catalog_images
from atoll.hub.catalog.images import Image
from atoll.hub.identity import tenancy
from atoll.hub.identity.limits import check_room
from atoll.hub.sites import intent
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import Delete, ListQuery, Put, Record, Store, Write
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.resources import (
    SPECS,
    Desired,
    Meta,
    Model,
    NetworkSpec,
    NicSpec,
    ServerSpec,
    SubnetSpec,
    VolumeSpec,
)
from atoll.resources.fields import schema as model_schema
from atoll.resources.model import NAME, NAME_HINT
from atoll.tokens import Claims

STATUS = Shape(
    "SiteObjectStatus",
    {
        "state": Field("string", required=True),
        "message": Field("string", required=True),
        "seq": Field("integer", required=True),
        "observed_generation": Field("integer", required=True),
        "facts": Field("object", required=True, nullable=True),
    },
    description="what the site last reported (its sequence number seq)",
)
OBJECT = Shape(
    "SiteObject",
    {
        "id": Field("string", required=True),
        "name": Field("string", required=True, nullable=True),
        "project_id": Field("string", required=True, nullable=True),
        "site": Field("string", required=True, description="the site's name"),
        "kind": Field("string", required=True, enum=intent.PLACEABLE),
        "origin": Field("string", required=True, enum=("hub", "site")),
        "hub_revision": Field("integer", required=True, description="also the ETag"),
        "spec": Field("object", required=True, description="the kind's spec"),
        "status": Field("object", required=True, nullable=True, shape=STATUS),
        "conflict": Field("string", required=True, nullable=True),
    },
)
SITE = Field(
    "string",
    required=True,
    description="the site's name",
    pattern=NAME_PATTERN,
    pattern_help=NAME_HELP,
    max_length=63,
)
OBJECT_ID = Field("string", required=True, max_length=63, description="the object's id or name")
SPEC_RULES = {
    "server": "flavor (a hub flavor's name or id), image (a catalog image's name or id) or "
    "kernel, nics [{network, fixed_ip?, vnic_type?}], volumes, ssh_keys, user_data, "
    "restart_policy, power",
    "network": "segment_type flat|vlan, physical_network, vlan_id, mtu (physical_network, "
    "and so vlan, from system admins only: 403 otherwise)",
    "subnet": "network (name or id at this site), cidr, gateway, allocation_pools, dns_nameservers",
    "volume": "size_gb, server (name or id at this site)",
}
REBOOT = Shape("ServerReboot", {"hard": Field("boolean", description="power-cycle")})
EMPTY = Shape("ServerAction", {})


# spec fields the site fills in, or that only the server actions change: refused in a create
NOT_SETTABLE: dict[str, tuple[str, ...]] = {
    "server": ("ports", "vcpus", "ram_mb", "reboots", "reboot_hard", "rebuilds"),
    "network": (),
    "subnet": (),
    "volume": ("snapshots",),
}


@dataclasses.dataclass(frozen=True)
class CreateBody:
    """What the OpenAPI document shows for a create: :func:`create_shape` with ``spec`` as
    the JSON Schema of the kind's typed model (:func:`atoll.resources.fields.schema`)."""

    kind: str

    @property
    def name(self) -> str:
        return create_shape(self.kind).name

    def schema(self) -> JSON:
        out = create_shape(self.kind).schema()
        spec = model_schema(SPECS[self.kind], leave_out=NOT_SETTABLE[self.kind])
        spec["description"] = SPEC_RULES[self.kind]
        out["properties"]["spec"] = spec
        return out


def create_shape(kind: str) -> Shape:
    return Shape(
        f"Site{kind.capitalize()}Create",
        {
            "name": Field(
                "string",
                required=kind != "subnet",  # a subnet's name is optional, as in Neutron
                nullable=kind == "subnet",
                pattern=f"^{NAME}$",
                pattern_help=NAME_HINT,
                min_length=1,
                max_length=63,
            ),
            "spec": Field("object", required=True, description=SPEC_RULES[kind]),
            "labels": LABELS,
            "project": Field(
                "string",
                pattern=NAME_PATTERN,
                pattern_help=NAME_HELP,
                max_length=63,
                description="system admins: the owning project",
            ),
        },
    )


# -- reading ---------------------------------------------------------------------------------
def visible(claims: Claims, value: JSON) -> bool:
    return claims.system or tenancy.owns(claims, value)


async def site_record(store: Store, name: str) -> JSON:
    try:
        return (await store.get(SITE_KIND, name)).value
    except NotFound as exc:
        raise NotFound(f"site {name} does not exist") from exc


async def status_of(store: Store, record: Record) -> Record | None:
    try:
        return await store.get(intent.SITE_STATUS, record.key)
    except NotFound:
        return None


async def find(
    store: Store, claims: Claims, site: JSON, kind: str, ref: str, project_id: str | None = None
) -> Record:
    """The object ``ref`` (an id, or a name unique in the caller's reach, or in
    ``project_id`` when given) at ``site``."""
    if ids.is_id(ref):
        try:
            record = await store.get(intent.SITE_OBJECT, intent.object_key(site["id"], kind, ref))
        except NotFound:
            record = None
        if record is not None and _reachable(record, claims, project_id):
            return record
    else:
        filters = {"site_id": site["id"], "kind": kind, "name": ref}
        if project_id is not None:
            filters["project_id"] = project_id
        prefix = intent.site_prefix(site["id"], kind)
        named = [
            r
            for r in await list_all(store, intent.SITE_OBJECT, filters, key_prefix=prefix)
            if r.value.get("desired") and visible(claims, r.value)
        ]
        if len(named) == 1:
            return named[0]
        if named:
            raise Conflict(
                f"{len(named)} {kind}s at site {site['name']} are named {ref}: give the id"
            )
    raise NotFound(f"{kind} {ref} does not exist at site {site['name']}")


def _reachable(record: Record, claims: Claims, project_id: str | None) -> bool:
    value = record.value
    ours = project_id is None or value.get("project_id") == project_id
    return ours and bool(value.get("desired")) and visible(claims, value)


async def answer(store: Store, record: Record, status: int = 200) -> web.Response:
    view = intent.view(record, await status_of(store, record))
    return reply(view, status, record.revision)


# -- placing ---------------------------------------------------------------------------------
async def owner_project(store: Store, claims: Claims, body: JSON) -> str:
    if claims.system:
        if "project" not in body:
            raise InvalidInput(
                "system admins name the project that owns the object",
                [Problem("body.project", "is required with a system-scoped token")],
            )
        try:
            return str((await tenancy.project(store, body["project"])).value["id"])
        except NotFound as exc:
            raise InvalidInput(
                "the project does not exist",
                [Problem("body.project", f"project {body['project']} does not exist")],
            ) from exc
    if "project" in body and body["project"] != claims.project:
        raise InvalidInput(
            "project members create in their token's project",
            [Problem("body.project", f"must be {claims.project} or left out")],
        )
    assert claims.project_id is not None  # the policy admits only scoped tokens here
    return claims.project_id


async def catalog_image(store: Store, claims: Claims, ref: str, where: str) -> Image:
    found: list[Record] = []
    if ids.is_id(ref):
        try:
            found = [await store.get(catalog_images.KIND, ref)]
        except NotFound:
            found = []
    if not found:
        found = await list_all(store, catalog_images.KIND, {"name": ref})
    images = [Image.of(r) for r in found if catalog_images.visible(r, claims)]
    if len(images) > 1:
        raise InvalidInput("the image is ambiguous", [Problem(where, f"{len(images)} images "
                           f"are named {ref}: give the id")])  # fmt: skip
    if not images:
        raise InvalidInput("the image does not exist", [Problem(where, f"no image {ref}")])
    if images[0].status != "active":
        raise InvalidInput("the image has no data yet",
                           [Problem(where, f"image {ref} is {images[0].status}")])  # fmt: skip
    return images[0]


async def local_ref(
    store: Store, claims: Claims, site: JSON, kind: str, ref: str, where: str, project_id: str
) -> str:
    """The id of the ``kind`` object of ``project_id`` that ``ref`` names at the site
    (InvalidInput if none)."""
    try:
        return str((await find(store, claims, site, kind, ref, project_id)).value["id"])
    except NotFound as exc:
        raise InvalidInput(
            f"the {kind} does not exist", [Problem(where, f"no {kind} {ref} at {site['name']}")]
        ) from exc


async def placed(store: Store, site: JSON, desired: Desired) -> Put | None:
    """A write placing a dependency at the site, unless it is there already."""
    key = intent.object_key(site["id"], desired.kind, desired.meta.id)
    try:
        await store.get(intent.SITE_OBJECT, key)
        return None
    except NotFound:
        return Put(intent.SITE_OBJECT, key, intent.new_object(site, desired), expect_revision=0)


async def resolve_server(
    store: Store, claims: Claims, site: JSON, spec: ServerSpec, project_id: str
) -> tuple[ServerSpec, list[Put]]:
    """The spec with catalog and site references as ids, and the dependencies to place."""
    try:
        flavor = flavors.Flavor.of(await flavors.find(store, claims, spec.flavor))
    except (NotFound, Conflict) as exc:
        raise InvalidInput(
            "the flavor cannot be used", [Problem("body.spec.flavor", exc.message)]
        ) from exc
    deps = [intent.flavor_desired(flavor)]
    changes: dict[str, Any] = {"flavor": flavor.id}
    for field in ("image", "kernel", "ramdisk"):
        ref = getattr(spec, field)
        if ref is not None:
            image = await catalog_image(store, claims, ref, f"body.spec.{field}")
            deps.append(intent.image_desired(image))
            changes[field] = image.id
    nics = []
    for index, nic in enumerate(spec.nics):
        where = f"body.spec.nics[{index}].network"
        network = await local_ref(store, claims, site, "network", nic.network, where, project_id)
        nics.append(dataclasses.replace(nic, network=network))
    changes["nics"] = tuple[NicSpec, ...](nics)
    for index, volume in enumerate(spec.volumes):
        await local_ref(
            store, claims, site, "volume", volume, f"body.spec.volumes[{index}]", project_id
        )
    writes = [w for d in deps if (w := await placed(store, site, d)) is not None]
    return dataclasses.replace(spec, **changes), writes


async def resolve(
    store: Store, claims: Claims, site: JSON, kind: str, spec: Model, project_id: str
) -> tuple[Model, list[Put]]:
    if isinstance(spec, ServerSpec):
        return await resolve_server(store, claims, site, spec, project_id)
    if isinstance(spec, SubnetSpec):
        where = "body.spec.network"
        network = await local_ref(store, claims, site, "network", spec.network, where, project_id)
        return dataclasses.replace(spec, network=network), []
    if isinstance(spec, VolumeSpec) and spec.server is not None:
        where = "body.spec.server"
        server = await local_ref(store, claims, site, "server", spec.server, where, project_id)
        return dataclasses.replace(spec, server=server), []
    return spec, []


async def create(request: web.Request, kind: str) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    store = hub.store
    site = await site_record(store, path_name(request, "site"))
    body = await read_body(request, create_shape(kind))
    spec_model = SPECS[kind]
    fixed = [k for k in NOT_SETTABLE[kind] if k in body["spec"]]
    if fixed:
        raise InvalidInput(f"the {kind} spec sets what it may not",
                           [Problem(f"body.spec.{k}", "is set by the site or an action, not "
                                    "by a create") for k in fixed])  # fmt: skip
    spec = spec_model.from_wire(body["spec"], where="body.spec", strict=True)
    project_id = await owner_project(store, claims, body)
    if isinstance(spec, NetworkSpec) and spec.physical_network is not None and not claims.system:
        raise Forbidden(
            f"body.spec.physical_network: a network on site {site['name']}'s physical network "
            f"{spec.physical_network} (a provider network) is placed by a system "
            "administrator, naming the project it is for; leave it out for the site's own "
            "segment"
        )
    if project_id is not None:  # a system admin's shared objects are not counted
        await check_room(store, intent.SITE_OBJECT, project_id, hub.settings.site_placement_limit,
                         f"objects placed at site {site['name']}", "site_placement_limit",
                         key_prefix=intent.site_prefix(site["id"]))  # fmt: skip
        if kind == "network":
            await check_room(store, intent.SITE_OBJECT, project_id,
                             hub.settings.site_network_limit, f"networks at site {site['name']}",
                             "site_network_limit",
                             key_prefix=intent.site_prefix(site["id"], "network"))  # fmt: skip
    name = body.get("name")
    same = {"site_id": site["id"], "kind": kind, "name": name, "project_id": project_id}
    taken = name is not None and await list_all(
        store, intent.SITE_OBJECT, same, key_prefix=intent.site_prefix(site["id"], kind)
    )
    if taken and [r for r in taken if r.value.get("desired")]:
        raise Conflict(f"{kind} {name} already exists at site {site['name']}")
    for _ in range(3):  # a dependency placed by a concurrent create: look again
        spec_ids, deps = await resolve(store, claims, site, kind, spec, project_id)
        meta = Meta(
            id=ids.hub_id(), name=name, project_id=project_id,
            labels=body.get("labels", {}),
        )  # fmt: skip
        desired = Desired(kind=kind, meta=meta, spec=spec_ids, origin="hub")  # type: ignore[arg-type]
        key = intent.object_key(site["id"], kind, meta.id)
        value = intent.new_object(site, desired)
        try:
            await store.commit([Put(intent.SITE_OBJECT, key, value, expect_revision=0), *deps])
        except StaleRevision:
            continue
        return await answer(store, await store.get(intent.SITE_OBJECT, key), 201)
    raise Conflict(f"the {kind}'s flavor or image kept changing at site {site['name']}; retry")


async def removed_with(store: Store, site: JSON, record: Record) -> list[Write]:
    """The writes that go with removing ``record`` from the site: a network's subnets go
    with it. Conflict if something placed at the site still uses it (a server with a NIC on
    the network, or on the subnet's network; the server a volume is attached to), as the
    site agent refuses it (and as Neutron and Cinder do): removed at the hub alone, the
    site would keep it, pinned by its users, and the two would disagree for good."""
    kind, object_id = record.value["kind"], record.value["id"]
    spec = (record.value.get("desired") or {}).get("spec") or {}
    users: list[str] = []
    if kind == "volume" and spec.get("server"):
        users.append(f"server {spec['server']} (attached)")
    if kind in ("network", "subnet", "volume"):
        network = spec.get("network") if kind == "subnet" else object_id
        for server in await _live(store, site, "server"):
            server_spec = server.value["desired"].get("spec") or {}
            nics = {nic.get("network") for nic in server_spec.get("nics") or ()}
            if (kind != "volume" and network in nics) or object_id in (
                server_spec.get("volumes") or ()
            ):
                users.append(f"server {server.value.get('name') or server.value['id']}")
    if users:
        shown = ", ".join(sorted(set(users))[:10])
        raise Conflict(f"{kind} {record.value.get('name') or object_id} is in use at site "
                       f"{site['name']} by {shown}: delete or detach those first")  # fmt: skip
    if kind != "network":
        return []
    return [
        Delete(intent.SITE_OBJECT, subnet.key, subnet.revision)
        for subnet in await _live(store, site, "subnet")
        if (subnet.value["desired"].get("spec") or {}).get("network") == object_id
    ]


async def _live(store: Store, site: JSON, kind: str) -> list[Record]:
    """The objects of ``kind`` placed at the site with the hub's intent (no tombstones)."""
    prefix = intent.site_prefix(site["id"], kind)
    placed = await list_all(store, intent.SITE_OBJECT, {"site_id": site["id"]}, key_prefix=prefix)
    return [r for r in placed if r.value.get("desired")]


def unheld(record: Record) -> None:
    if record.value.get("conflict"):
        raise Conflict(
            f"{record.value['kind']} {record.value['id']} has an open conflict "
            f"({record.value['conflict']}): resolve it first (atoll conflict resolve)"
        )


async def change_spec(request: web.Request, changes: dict[str, Any]) -> web.Response:
    """A server action: the spec with ``changes`` (or the reboots counter raised)."""
    store, claims = hub_of(request).store, claims_of(request)
    site = await site_record(store, path_name(request, "site"))
    record = await find(store, claims, site, "server", request.match_info["id"])
    unheld(record)
    desired = Desired.from_wire(intent.desired_wire(record))
    assert isinstance(desired.spec, ServerSpec)
    if changes.get("reboots"):
        changes = {**changes, "reboots": desired.spec.reboots + 1}
    spec = dataclasses.replace(desired.spec, **changes)
    value = {**record.value, "desired": {**record.value["desired"], "spec": spec.to_wire()}}
    expect = if_match(request) or record.revision
    try:
        await store.put(intent.SITE_OBJECT, record.key, value, expect_revision=expect)
    except StaleRevision as exc:
        raise StaleRevision(
            f"server {record.value['id']} changed meanwhile: {exc.message}"
        ) from exc
    return await answer(store, await store.get(intent.SITE_OBJECT, record.key))


# -- handlers --------------------------------------------------------------------------------
def handlers(kind: str) -> list[Route]:
    noun = f"{kind}s"
    base = f"/v1/sites/{{site}}/{noun}"
    name = f"site_{noun}"

    async def list_(request: web.Request) -> web.Response:
        store, claims = hub_of(request).store, claims_of(request)
        limit, marker = page_params(request)
        site = await site_record(store, path_name(request, "site"))
        filters: JSON = {"site_id": site["id"], "kind": kind}
        if not claims.system:
            filters["project_id"] = claims.project_id
        prefix = intent.site_prefix(site["id"], kind)
        page = await store.list(ListQuery(intent.SITE_OBJECT, filters, limit, marker, prefix))
        items = [
            intent.view(r, await status_of(store, r))
            for r in page.items
            if r.value.get("desired") and visible(claims, r.value)
        ]
        return page_reply(items, page.next_marker)

    async def create_(request: web.Request) -> web.Response:
        return await create(request, kind)

    async def show(request: web.Request) -> web.Response:
        store = hub_of(request).store
        site = await site_record(store, path_name(request, "site"))
        record = await find(store, claims_of(request), site, kind, request.match_info["id"])
        return await answer(store, record)

    async def delete(request: web.Request) -> web.Response:
        store = hub_of(request).store
        site = await site_record(store, path_name(request, "site"))
        record = await find(store, claims_of(request), site, kind, request.match_info["id"])
        unheld(record)
        writes: list[Write] = [
            Delete(intent.SITE_OBJECT, record.key, if_match(request) or record.revision),
            *await removed_with(store, site, record),
        ]
        await store.commit(writes)
        return no_content()

    site_path = {"site": SITE}
    one = {"site": SITE, "id": OBJECT_ID}
    routes = [
        Route("GET", base, f"{name}.list", list_, f"List the {noun} placed at a site",
              response=OBJECT, paged=True, path_params=site_path),
        Route("POST", base, f"{name}.create", create_, f"Place a {kind} at a site",
              description=f"spec: {SPEC_RULES[kind]}. The spec is checked by the typed "
              "model beyond this schema (a 400 names the field).",
              body=CreateBody(kind), response=OBJECT, status=201, etag=True,
              path_params=site_path),
        Route("GET", f"{base}/{{id}}", f"{name}.show", show, f"Show a {kind} at a site, with "
              "its status", response=OBJECT, path_params=one, etag=True),
        Route("DELETE", f"{base}/{{id}}", f"{name}.delete", delete, f"Remove a {kind} from a "
              "site", status=204, path_params=one, etag=True),
    ]  # fmt: skip
    return routes


async def reboot(request: web.Request) -> web.Response:
    body = await read_body(request, REBOOT) if request.can_read_body else {}
    return await change_spec(request, {"reboots": True, "reboot_hard": body.get("hard", False)})


async def stop(request: web.Request) -> web.Response:
    return await change_spec(request, {"power": "stopped"})


async def start(request: web.Request) -> web.Response:
    return await change_spec(request, {"power": "running"})


ONE = {"site": SITE, "id": OBJECT_ID}
ACTIONS = [
    Route("POST", "/v1/sites/{site}/servers/{id}/reboot", "site_servers.reboot", reboot,
          "Reboot a server (raises its reboots counter)", body=REBOOT, response=OBJECT,
          path_params=ONE, etag=True),
    Route("POST", "/v1/sites/{site}/servers/{id}/stop", "site_servers.stop", stop,
          "Stop a server (power: stopped)", body=EMPTY, response=OBJECT, path_params=ONE,
          etag=True),
    Route("POST", "/v1/sites/{site}/servers/{id}/start", "site_servers.start", start,
          "Start a server (power: running)", body=EMPTY, response=OBJECT, path_params=ONE,
          etag=True),
]  # fmt: skip
ROUTES = [route for kind in intent.PLACEABLE for route in handlers(kind)] + ACTIONS
