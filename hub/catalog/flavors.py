"""Flavors: how big an instance is, and the telco extras (pinned CPUs, hugepages, NUMA, SR-IOV).

A flavor is public (every project sees it) or private to the projects on its access list
(``project_ids``; ``projects`` holds their names, for people). A project member may create
private flavors for their own project (``project_id``, ``owner`` its name); only system
admins create public ones. The rules that tie fields together live in :func:`problems`.

Names are unique per namespace, the OpenStack way for a tenant's resources: a project's own
flavors live in that project's namespace, flavors made by system administrators (public, or
private to an access list) in the ``public`` one. The store key is ``<namespace>:<name>``
(:func:`key`), so a private flavor never blocks, nor reveals, a name in another project or
in the public namespace. A name looked up from a project finds its own flavor first, then
one of the public namespace it may use (:func:`lookup_keys`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from atoll import ids
from atoll.errors import Conflict, NotFound, Problem, StaleRevision
from atoll.hub.identity.tenancy import owns
from atoll.hub.store.base import Record, Store
from atoll.hub.store.query import list_all
from atoll.tokens import Claims

KIND = "flavor"
HUGEPAGE_MB = {"none": 0, "2M": 2, "1G": 1024}
DEFAULT_EXTRA_SPECS: dict[str, Any] = {
    "dedicated_cpus": False,
    "hugepages": "none",
    "numa_nodes": 1,
    "sriov_ports": 0,
}


def problems(flavor: dict[str, Any]) -> list[Problem]:
    """What is inconsistent between the fields of an otherwise well-typed flavor."""
    out: list[Problem] = []
    specs = flavor["extra_specs"]
    page = HUGEPAGE_MB[specs["hugepages"]]
    if page and flavor["ram_mb"] % page:
        out.append(Problem("body.ram_mb", f"must be a multiple of the {specs['hugepages']} page"))
    if specs["numa_nodes"] > flavor["vcpus"]:
        out.append(Problem("body.extra_specs.numa_nodes", "cannot exceed vcpus"))
    if flavor["vcpus"] % specs["numa_nodes"]:
        out.append(Problem("body.vcpus", "must split evenly over the NUMA nodes"))
    if not flavor["public"] and not flavor["projects"]:
        out.append(Problem("body.projects", "a private flavor needs at least one project"))
    if flavor["public"] and flavor["projects"]:
        out.append(Problem("body.projects", "a public flavor has no access list"))
    return out


PUBLIC = "public"  # the namespace of flavors system administrators make


def key(project_id: str | None, name: str) -> str:
    """The store key of flavor ``name`` in a project's namespace, or the public one."""
    return f"{project_id or PUBLIC}:{name}"


def lookup_keys(claims: Claims, name: str) -> list[str]:
    """Where a name is looked for, in order: the caller's project, then the public namespace."""
    own = [key(claims.project_id, name)] if claims.project_id is not None else []
    return [*own, key(None, name)]


def visible(flavor: dict[str, Any], claims: Claims) -> bool:
    return (
        claims.system
        or flavor["public"]
        or (claims.project_id is not None and claims.project_id in flavor.get("project_ids", []))
    )


def may_delete(flavor: dict[str, Any], claims: Claims) -> bool:
    return claims.system or owns(claims, flavor)


async def find(store: Store, claims: Claims, name: str) -> Record:
    """The flavor ``name`` means to the caller: their project's own, then the public
    namespace's, then by id; system callers also find a project's flavor by a name unique
    across projects. NotFound (or Conflict for an ambiguous name) otherwise."""
    for lookup in lookup_keys(claims, name):
        try:
            record = await store.get(KIND, lookup)
        except NotFound:
            continue
        if visible(record.value, claims):
            return record
    by_id = await list_all(store, KIND, {"id": name}) if ids.is_id(name) else []
    for record in by_id:
        if visible(record.value, claims):
            return record
    if claims.system:  # a project's flavor, by a name unique across projects
        named = await list_all(store, KIND, {"name": name})
        if len(named) == 1:
            return named[0]
        if named:
            raise Conflict(f"{len(named)} projects have a flavor {name}: give its id")
    raise NotFound(f"flavor {name} does not exist")


async def forget_project(store: Store, project_id: str) -> None:
    """A deleted project's own flavors go, and it leaves every access list it was on."""
    for record in await list_all(store, KIND, {}):
        flavor = record.value
        with contextlib.suppress(NotFound, StaleRevision):
            if flavor.get("project_id") == project_id:
                await store.delete(KIND, record.key, expect_revision=record.revision)
            elif project_id in flavor.get("project_ids", []):
                kept = [
                    (i, n)
                    for i, n in zip(flavor["project_ids"], flavor["projects"], strict=False)
                    if i != project_id
                ]
                value = {**flavor, "project_ids": [i for i, _ in kept]}
                value["projects"] = [n for _, n in kept]
                await store.put(KIND, record.key, value, expect_revision=record.revision)
