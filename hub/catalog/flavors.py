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

Records are read and written as :class:`Flavor`, a typed model, at the store edge
(:meth:`Flavor.of`, :meth:`Flavor.to_wire`); its size fields are those of the site's
:class:`atoll.resources.FlavorSpec`, which :func:`atoll.hub.sites.intent.flavor_desired` sends.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Self

from atoll import ids
from atoll.errors import Conflict, NotFound, Problem, StaleRevision
from atoll.hub.identity.tenancy import owns
from atoll.hub.store.base import Record, Store
from atoll.hub.store.query import list_all
from atoll.resources import FlavorExtras, Model
from atoll.resources.fields import bounded
from atoll.tokens import Claims

KIND = "flavor"
HUGEPAGE_MB = {"none": 0, "2M": 2, "1G": 1024}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExtraSpecs(FlavorExtras):
    """The site's flavor extras, with the catalog's bound on SR-IOV ports (the hub API's)."""

    sriov_ports: int = bounded(0, low=0, high=16)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Flavor(Model):
    """A flavor as the catalog stores it: a size, and who may use it. Bounds are the API's
    (``hub/api/flavors.py``, checked when a flavor is made); a record only needs its types."""

    WHAT = "flavor"
    id: str
    name: str
    description: str = ""
    vcpus: int
    ram_mb: int
    disk_gb: int = 0
    extra_specs: ExtraSpecs = dataclasses.field(default_factory=ExtraSpecs)
    public: bool = True
    projects: tuple[str, ...] = ()  # names, for people
    project_ids: tuple[str, ...] = ()  # the access list of a private flavor
    owner: str | None = None  # the owning project's name (project members' own flavors)
    project_id: str | None = None  # ... and its id
    created_at: str = ""

    @classmethod
    def of(cls, record: Record) -> Self:
        """The flavor a store record holds."""
        return cls.from_wire(record.value, where=f"flavor {record.key}")

    def inconsistencies(self) -> list[Problem]:
        """What is inconsistent between the fields of a flavor being made (not checked when a
        record is read: a private flavor may lose the last project on its access list)."""
        out: list[Problem] = []
        specs = self.extra_specs
        page = HUGEPAGE_MB[specs.hugepages]
        if page and self.ram_mb % page:
            out.append(Problem("body.ram_mb", f"must be a multiple of the {specs.hugepages} page"))
        if specs.numa_nodes > self.vcpus:
            out.append(Problem("body.extra_specs.numa_nodes", "cannot exceed vcpus"))
        if self.vcpus % specs.numa_nodes:
            out.append(Problem("body.vcpus", "must split evenly over the NUMA nodes"))
        if not self.public and not self.projects:
            out.append(Problem("body.projects", "a private flavor needs at least one project"))
        if self.public and self.projects:
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


def visible(flavor: Flavor, claims: Claims) -> bool:
    return (
        claims.system
        or flavor.public
        or (claims.project_id is not None and claims.project_id in flavor.project_ids)
    )


def may_delete(flavor: Flavor, claims: Claims) -> bool:
    return claims.system or owns(claims, {"project_id": flavor.project_id})


async def find(store: Store, claims: Claims, name: str) -> Record:
    """The flavor ``name`` means to the caller: their project's own, then the public
    namespace's, then by id; system callers also find a project's flavor by a name unique
    across projects. NotFound (or Conflict for an ambiguous name) otherwise."""
    for lookup in lookup_keys(claims, name):
        try:
            record = await store.get(KIND, lookup)
        except NotFound:
            continue
        if visible(Flavor.of(record), claims):
            return record
    by_id = await list_all(store, KIND, {"id": name}) if ids.is_id(name) else []
    for record in by_id:
        if visible(Flavor.of(record), claims):
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
        flavor = Flavor.of(record)
        with contextlib.suppress(NotFound, StaleRevision):
            if flavor.project_id == project_id:
                await store.delete(KIND, record.key, expect_revision=record.revision)
            elif project_id in flavor.project_ids:
                kept = [
                    (i, n)
                    for i, n in zip(flavor.project_ids, flavor.projects, strict=False)
                    if i != project_id
                ]
                left = dataclasses.replace(
                    flavor,
                    project_ids=tuple(i for i, _ in kept),
                    projects=tuple(n for _, n in kept),
                )
                await store.put(KIND, record.key, left.to_wire(), expect_revision=record.revision)
