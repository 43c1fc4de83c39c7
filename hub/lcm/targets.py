"""What an LCM request resolves to in this hub: its package, its sites, and the intent.

The pure planning is :mod:`atoll.nfv.lcm`; this module reads what it needs from the store
(packages, images, sites and their reported capacity, site networks) and turns it into
:class:`~atoll.nfv.lcm.intent.Bindings`, so the engine computes the target intent of every
operation the same way:

* **Sites** are named by id or name in requests (``placement.sites``, ``vduSites``,
  ``extVirtualLinks[].vimConnectionId``); the intent and ``vimConnectionId`` of every
  resource say the site's immutable id.
* **Flavors**: each VDU gets a flavor object of its own at the sites it runs on (id derived
  from the instance and the VDU, sized from the VNFD), placed and removed with its servers.
* **Images**: the package's software images, each bound to a catalog image at onboarding
  (``softwareImages[].catalogImage``), placed at a site with the first server needing it.
  A kernel image (``aki``, linked to its ramdisk: the reference VNF) is booted directly
  (:func:`boot_sources`).
* **External networks**: ``extVirtualLinks[].resourceId`` names a site network (id or
  name) of the instance's project at that site; a name is resolved to the id per site.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from atoll import ids
from atoll.errors import InvalidInput, NotFound, Problem
from atoll.hub.catalog import images as catalog_images
from atoll.hub.catalog import vnf_packages as pkgs
from atoll.hub.catalog.images import Image
from atoll.hub.catalog.vnf_package_files import PackageFiles, missing_here
from atoll.hub.sites import intent
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import Store
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.nfv.lcm.intent import Bindings
from atoll.nfv.lcm.placement import Need, SiteFigures
from atoll.nfv.lcm.requests import ExtVirtualLinkData, PlacementRequest
from atoll.nfv.model import VnfPackage
from atoll.nfv.package import load_package
from atoll.nfv.planning import DeploymentPlan
from atoll.resources import Desired, FlavorSpec, Meta, ServerSpec
from atoll.sync import frames

GiB = 1024**3
MiB = 1024**2
# a site that has not reported its capacity yet: as big as any site may say it is
UNKNOWN = Need(frames.MAX_VCPUS, frames.MAX_RAM_MB, frames.MAX_DISK_GB)


@dataclass(frozen=True)
class Sites:
    """The registry as placement and the engine read it: site records by id."""

    by_id: Mapping[str, JSON]

    @classmethod
    async def load(cls, store: Store) -> Sites:
        records = await list_all(store, SITE_KIND, {})
        return cls(MappingProxyType({r.value["id"]: r.value for r in records}))

    def resolve(self, ref: str, where: str) -> str:
        """The id of the site ``ref`` names (its id or name); InvalidInput naming ``where``."""
        if ref in self.by_id:
            return ref
        for site_id, value in self.by_id.items():
            if value["name"] == ref:
                return site_id
        raise InvalidInput("no such site", [Problem(where, f"site {ref!r} does not exist")])

    def name(self, site_id: str) -> str:
        value = self.by_id.get(site_id)
        return str(value["name"]) if value else site_id

    def figures(self) -> tuple[SiteFigures, ...]:
        """Each site as placement sees it: its capacity and usage as it last reported them
        over sync. A site that never reported (no ``reported_at``: an agent older than the
        report, or one not connected yet) is taken as unbounded: placement then goes by the
        rules and the spread only."""
        return tuple(
            SiteFigures(
                id=site_id,
                capacity=_need(value.get("capacity")) if _reported(value) else UNKNOWN,
                usage=_need(value.get("usage")),
                region=value.get("region", "default"),
                labels=MappingProxyType(dict(value.get("labels") or {})),
                available=value.get("state") != "maintenance",
                name=f"site {value['name']}",
            )
            for site_id, value in sorted(self.by_id.items())
        )


def _reported(site: JSON) -> bool:
    return site.get("reported_at") is not None


def _need(figures: JSON | None) -> Need:
    f = figures or {}
    return Need(int(f.get("vcpus", 0)), int(f.get("ram_mb", 0)), int(f.get("disk_gb", 0)))


def site_placement(request: PlacementRequest, sites: Sites) -> PlacementRequest:
    """``request`` with every site it names as a site id."""
    return PlacementRequest(
        sites=tuple(
            sites.resolve(s, f"body.additionalParams.placement.sites[{i}]")
            for i, s in enumerate(request.sites)
        ),
        vdu_sites={
            vdu: tuple(
                sites.resolve(s, f"body.additionalParams.placement.vduSites.{vdu}[{i}]")
                for i, s in enumerate(named)
            )
            for vdu, named in request.vdu_sites.items()
        },
        labels=request.labels,
        region=request.region,
    )


def ext_networks(links: Iterable[ExtVirtualLinkData], sites: Sites) -> list[list[str | None]]:
    """``[[cpd id, site id or None, site network]]`` from ``extVirtualLinks``."""
    out: list[list[str | None]] = []
    for i, link in enumerate(links):
        site = (
            None
            if link.vim_connection_id is None
            else sites.resolve(link.vim_connection_id, f"body.extVirtualLinks[{i}].vimConnectionId")
        )
        out += [[cp.cpd_id, site, link.resource_id] for cp in link.ext_cps]
    return out


async def resolved_networks(
    store: Store, project_id: str, networks: list[list[str | None]], placed: Iterable[str]
) -> dict[tuple[str, str | None], str]:
    """``(cpd, site) -> network id`` at every site in ``placed`` (a name resolved there)."""
    out: dict[tuple[str, str | None], str] = {}
    problems: list[Problem] = []
    for site in sorted(set(placed)):
        for cpd, at, ref in networks:
            assert cpd is not None and ref is not None
            if at is not None and at != site:
                continue
            if (cpd, site) in out and at is None:
                continue  # a site-specific entry wins
            found = await _site_network(store, project_id, site, ref)
            if found is None:
                problems.append(
                    Problem(
                        "body.extVirtualLinks",
                        f"no network {ref!r} of the project at site {site} (for CP {cpd!r})",
                    )
                )
            else:
                out[(cpd, site)] = found
    if problems:
        raise InvalidInput("an external virtual link names no network", problems)
    return out


async def _site_network(store: Store, project_id: str, site: str, ref: str) -> str | None:
    """The id of the live network of ``project_id`` that ``ref`` (an id or a name) names at
    ``site``, else None: by id as by name, another project's network is none (as
    ``/v1/sites/{site}/servers`` answers), or a tenant could put its VNF on another's
    segment, and learn which network ids exist from the answer."""
    if ids.is_id(ref):
        try:
            record = await store.get(intent.SITE_OBJECT, intent.object_key(site, "network", ref))
        except NotFound:
            record = None
        if (
            record is not None
            and record.value.get("desired")
            and record.value.get("project_id") == project_id
        ):
            return ref
    named = await list_all(
        store,
        intent.SITE_OBJECT,
        {"site_id": site, "kind": "network", "name": ref, "project_id": project_id},
    )
    live = [r for r in named if r.value.get("desired")]
    return str(live[0].value["id"]) if len(live) == 1 else None


# -- packages --------------------------------------------------------------------------------
async def usable_package(store: Store, project_id: str | None, vnfd_id: str, where: str) -> JSON:
    """The ONBOARDED, ENABLED package of the project with VNFD ``vnfd_id`` (newest first)."""
    filters: JSON = {"vnfdId": vnfd_id}
    if project_id is not None:
        filters["project_id"] = project_id
    found = await list_all(store, pkgs.KIND, filters)
    usable = [
        r
        for r in found
        if r.value["onboardingState"] == pkgs.ONBOARDED
        and r.value["operationalState"] == pkgs.ENABLED
    ]
    if not usable:
        why = (
            "no package with this VNFD" if not found else "its package is not ONBOARDED and ENABLED"
        )
        raise InvalidInput(
            "the VNFD cannot be instantiated", [Problem(where, f"{vnfd_id!r}: {why}")]
        )
    return max(usable, key=lambda r: r.created_revision).value  # the newest


class PackageCache:
    """Parsed packages by package id (a package's content never changes once onboarded)."""

    def __init__(self, root: Path) -> None:
        self.files = PackageFiles(root)
        self._parsed: dict[str, VnfPackage] = {}

    async def get(self, package_id: str) -> VnfPackage:
        if package_id not in self._parsed:
            path = await asyncio.to_thread(self.files.csar, package_id)
            if not await asyncio.to_thread(path.exists):
                raise missing_here(package_id)
            # checked when onboarded; the hub's copy never changes: not hashed again
            self._parsed[package_id] = await asyncio.to_thread(
                functools.partial(load_package, path, check_hashes=False)
            )
        return self._parsed[package_id]


def images_of(package: JSON) -> dict[str, str]:
    """VNFD software image (its name and its node) -> the catalog image bound to it."""
    out: dict[str, str] = {}
    for image in package.get("softwareImages", ()):
        out[image["name"]] = image["catalogImage"]
        out[image["id"]] = image["catalogImage"]
    return out


def flavor_id(instance_id: str, vdu: str) -> str:
    return ids.derived_hub_id(instance_id, vdu, "flavor")


def flavors_of(instance_id: str, deployment: DeploymentPlan) -> dict[str, str]:
    return {i.vdu: flavor_id(instance_id, i.vdu) for i in deployment.instances}


def flavor_objects(
    instance_id: str, project_id: str, deployment: DeploymentPlan
) -> dict[str, Desired]:
    """Flavor id -> the flavor object each VDU's servers use."""
    out: dict[str, Desired] = {}
    for i in deployment.instances:
        fid = flavor_id(instance_id, i.vdu)
        spec = FlavorSpec(
            vcpus=max(1, i.vcpus),
            ram_mb=max(16, -(-i.memory_bytes // MiB)),
            disk_gb=-(-(i.root_disk_bytes or 0) // GiB),
        )
        meta = Meta(id=fid, project_id=project_id)
        out[fid] = Desired(kind="flavor", meta=meta, spec=spec, origin="hub")
    return out


def bindings(
    instance_id: str,
    project_id: str,
    package: JSON,
    deployment: DeploymentPlan,
    networks: Mapping[tuple[str, str | None], str],
    placed: Mapping[str, str],
    rebuilds: Mapping[str, int] | None = None,
) -> Bindings:
    return Bindings(
        instance_id=instance_id,
        project_id=project_id,
        images=MappingProxyType(images_of(package)),
        flavors=MappingProxyType(flavors_of(instance_id, deployment)),
        networks=MappingProxyType(dict(networks)),
        sites=MappingProxyType(dict(placed)),
        rebuilds=MappingProxyType(dict(rebuilds or {})),
    )


async def boot_sources(
    store: Store, site_intent: Mapping[str, tuple[Desired, ...]]
) -> dict[str, tuple[Desired, ...]]:
    """``site_intent`` with every server whose image is a kernel (catalog disk format
    ``aki``, as Glance links one to its ramdisk) booted directly: ``kernel`` that image,
    ``ramdisk`` its ``ramdisk_id``, ``kernel_cmdline`` its ``cmdline`` property."""
    kernels: dict[str, Image] = {}
    for objects in site_intent.values():
        for image_id in images_needed(objects):
            try:
                image = Image.of(await store.get(catalog_images.KIND, image_id))
            except NotFound:
                continue
            if image.disk_format == "aki":
                kernels[image_id] = image
    out: dict[str, tuple[Desired, ...]] = {}
    for site, objects in site_intent.items():
        changed = []
        for d in objects:
            spec = d.spec
            if isinstance(spec, ServerSpec) and spec.image in kernels:
                props = kernels[spec.image].properties
                spec = dataclasses.replace(
                    spec,
                    image=None,
                    kernel=spec.image,
                    ramdisk=props.ramdisk_id,
                    kernel_cmdline=props.cmdline or spec.kernel_cmdline,
                )
                d = dataclasses.replace(d, spec=spec)
            changed.append(d)
        out[site] = tuple(changed)
    return out


def images_needed(objects: Iterable[Desired]) -> set[str]:
    return {
        ref
        for d in objects
        if isinstance(d.spec, ServerSpec)
        for ref in (d.spec.image, d.spec.kernel, d.spec.ramdisk)
        if ref
    }
