"""From a placed deployment plan to per-site intent, and the diff an operation writes.

Pure and deterministic. :func:`site_intent` turns a :class:`~atoll.nfv.planning.
DeploymentPlan` and its :class:`Bindings` (instance and project ids, image and flavor
choices, external networks, the site of each VNFC) into :class:`atoll.resources.Desired`
objects per site, in the order a site can apply them (networks, subnets, volumes, servers).
:func:`diff` says what to put and delete per site to go from one intent to another; that
is instantiate (from nothing), scale (a new plan), heal (the same plan with the healed
VNFCs' ``rebuilds`` raised) and terminate (to nothing). :func:`resource_changes` writes a
diff as SOL003 ``resourceChanges``, and :func:`vnfc_resource_info` the instance's
``vnfcResourceInfo``. A rollback is a diff back to the intent before the operation;
:func:`stopped` is the first half of a GRACEFUL terminate. :func:`sites_of` and
:func:`rebuilds_of` read placement and heal counters back from stored intent, so the engine
rebuilds :class:`Bindings` from what it wrote.

What each VNFC becomes at its site:

* a **server**: the VDU's flavor (``Bindings.flavors``) and image (``Bindings.images`` maps
  the VNFD's sw image name to a hub image id); when the VDU has no image of its own, its
  first virtual storage that has one is its root disk (and is not made again as a volume);
  one NIC per VduCp in the plan's port order (an internal VL's network at that site, or the
  site network ``extVirtualLinks`` maps the CP to there). The site makes the NICs' ports
  when it accepts the server (``ServerSpec.ports`` is the site's to fill), so ports are not
  separate intent. ``rebuilds`` is the heal counter;
* a **volume** per other virtual storage (size rounded up to GiB), attached by the server;
* per internal VL used at the site, a **network** (site-internal, flat) and, when the VNFD
  gives IP data, a **subnet** with its CIDR and gateway. An internal VL spanning sites is a
  segment per site (no layer 2 between sites).

Every object has ``meta.owner = OwnerRef(kind="vnf_instance", id=<instance id>, part=<VNFC
id, or VL id for networks>)``, labels naming its VDU/VNFC or VL (``vnf.vdu``, ``vnf.vnfc``,
``vnf.vl``, ``vnf.storage``), the project id, and an id from
:func:`atoll.ids.derived_hub_id` of ``(instance id, VNFC or VL id, purpose[, site])``: a
retried operation writes the very same objects. Names are hostname labels derived the same
way (unique per instance at a site).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from atoll import ids
from atoll.errors import InvalidInput, Problem
from atoll.nfv.lcm.instance import (
    AffectedVirtualLink,
    AffectedVirtualStorage,
    AffectedVnfc,
    ResourceChanges,
    VnfcResourceInfo,
)
from atoll.nfv.lcm.requests import network_for
from atoll.nfv.lcm.wire import ResourceHandle
from atoll.nfv.planning import DeploymentPlan, PlannedInstance, PlannedLink
from atoll.resources import (
    Desired,
    Meta,
    NetworkSpec,
    NicSpec,
    OwnerRef,
    ServerSpec,
    SubnetSpec,
    VolumeSpec,
)

GiB = 1024**3
OWNER_KIND = "vnf_instance"
ORDER = ("network", "subnet", "volume", "server")  # apply order; deletes go the other way
SiteIntent = Mapping[str, tuple[Desired, ...]]


@dataclass(frozen=True)
class Bindings:
    """What the plan leaves open, decided by the request, the hub and placement."""

    instance_id: str
    project_id: str
    images: Mapping[str, str]  # VNFD sw image name -> hub image id
    flavors: Mapping[str, str]  # VDU id -> flavor (id or name at the sites)
    networks: Mapping[tuple[str, str | None], str]  # (cpd id, site | None) -> site network
    sites: Mapping[str, str]  # VNFC id -> site id (from placement)
    rebuilds: Mapping[str, int] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )  # VNFC id -> heal counter


@dataclass(frozen=True)
class SiteDelta:
    """What to write at one site: ``put`` in apply order, ``delete`` (kind, id) in reverse."""

    put: tuple[Desired, ...]
    delete: tuple[tuple[str, str], ...]
    added: frozenset[str]  # ids of ``put`` that are new (the rest are modified)


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40].strip("-") or "x"


def _name(instance_id: str, *parts: str) -> str:
    return f"{_slug('-'.join(parts))}-{ids.derived_hub_id(instance_id, *parts)[:8]}"


def _meta(b: Bindings, obj_id: str, name: str, part: str, labels: dict[str, str]) -> Meta:
    return Meta(
        id=obj_id,
        name=name,
        project_id=b.project_id,
        labels=MappingProxyType(labels),
        owner=OwnerRef(kind=OWNER_KIND, id=b.instance_id, part=part),
    )


def _network_objects(b: Bindings, link: PlannedLink, site: str) -> list[Desired]:
    net_id = ids.derived_hub_id(b.instance_id, link.id, "network", site)
    labels = {"vnf.vl": link.id}
    out = [
        Desired(
            kind="network",
            meta=_meta(b, net_id, _name(b.instance_id, link.id), link.id, labels),
            spec=NetworkSpec(),
            origin="hub",
        )
    ]
    for n, proto in enumerate(p for p in link.protocols if p.cidr):
        assert proto.cidr is not None
        spec = SubnetSpec(network=net_id, cidr=proto.cidr, gateway=proto.gateway_ip)
        sub_id = ids.derived_hub_id(b.instance_id, link.id, f"subnet:{n}", site)
        name = _name(b.instance_id, link.id, f"subnet{n}")
        out.append(
            Desired(
                kind="subnet", meta=_meta(b, sub_id, name, link.id, labels), spec=spec, origin="hub"
            )
        )
    return out


def _vnfc_objects(
    b: Bindings, instance: PlannedInstance, site: str, networks: Mapping[str, str]
) -> list[Desired]:
    vnfc, problems = instance.id, []
    labels = {"vnf.vdu": instance.vdu, "vnf.vnfc": vnfc}
    image_name, volumes = instance.image, list(instance.volumes)
    if image_name is None:
        root = next((v for v in volumes if v.image), None)
        if root is not None:
            image_name = root.image
            volumes.remove(root)
    image = b.images.get(image_name) if image_name else None
    if image_name and image is None:
        problems.append(Problem(f"vdu.{instance.vdu}", f"no hub image for sw image {image_name!r}"))
    if image_name is None:
        problems.append(Problem(f"vdu.{instance.vdu}", "has no software image to boot"))
    flavor = b.flavors.get(instance.vdu)
    if flavor is None:
        problems.append(Problem(f"vdu.{instance.vdu}", "no flavor chosen"))
    if problems:
        raise InvalidInput(f"VNFC {vnfc} cannot be made", problems)
    assert flavor is not None
    out: list[Desired] = []
    for vol in volumes:
        vol_id = ids.derived_hub_id(b.instance_id, vnfc, f"volume:{vol.storage}")
        out.append(
            Desired(
                kind="volume",
                meta=_meta(
                    b,
                    vol_id,
                    _name(b.instance_id, vnfc, vol.storage),
                    vnfc,
                    {**labels, "vnf.storage": vol.storage},
                ),
                spec=VolumeSpec(size_gb=max(1, -(-vol.size_bytes // GiB))),
                origin="hub",
            )
        )
    nics = tuple(
        NicSpec(
            network=networks[port.virtual_link]
            if port.virtual_link
            else network_for(b.networks, port.cp, site)
        )
        for port in instance.ports
    )
    server = ServerSpec(
        flavor=flavor,
        image=image,
        nics=nics,
        volumes=tuple(d.meta.id for d in out),
        rebuilds=b.rebuilds.get(vnfc, 0),
    )
    server_id = ids.derived_hub_id(b.instance_id, vnfc, "server")
    out.append(
        Desired(
            kind="server",
            meta=_meta(b, server_id, _name(b.instance_id, vnfc), vnfc, labels),
            spec=server,
            origin="hub",
        )
    )
    return out


def _where(site: str, d: Desired) -> str:
    part = d.meta.owner.part if d.meta.owner else d.meta.id
    return f"site {site}: {d.kind} of {part}"


def site_intent(plan: DeploymentPlan, b: Bindings) -> dict[str, tuple[Desired, ...]]:
    """Every object of the deployment, per site, in apply order (see the module docstring)."""
    missing = [i.id for i in plan.instances if i.id not in b.sites]
    if missing:
        raise InvalidInput(
            "some VNFCs are not placed",
            [Problem(f"vnfc.{vnfc}", "has no site") for vnfc in missing],
        )
    links = {link.id: link for link in plan.virtual_links}
    per_site: dict[str, list[Desired]] = {}
    for site in sorted(set(b.sites[i.id] for i in plan.instances)):
        here = [i for i in plan.instances if b.sites[i.id] == site]
        used = sorted({p.virtual_link for i in here for p in i.ports if p.virtual_link})
        objects: list[Desired] = []
        networks: dict[str, str] = {}
        for vl in used:
            made = _network_objects(b, links[vl], site)
            networks[vl] = made[0].meta.id
            objects += made
        for instance in here:
            objects += _vnfc_objects(b, instance, site, networks)
        per_site[site] = objects
    problems = [
        p
        for site, objs in per_site.items()
        for d in objs
        for p in Desired.check(d.to_wire(), where=_where(site, d))
    ]
    if problems:  # what a site would refuse (more NICs than a server takes, ...)
        raise InvalidInput("the deployment cannot be made at its sites", problems)
    return {
        site: tuple(sorted(objs, key=lambda d: ORDER.index(d.kind)))
        for site, objs in per_site.items()
    }


def diff(old: SiteIntent, new: SiteIntent) -> dict[str, SiteDelta]:
    """Per site, what to put (new or changed, in apply order) and delete (in reverse) to go
    from ``old`` to ``new``; sites with nothing to do are left out."""
    out: dict[str, SiteDelta] = {}
    for site in sorted(set(old) | set(new)):
        before = {d.meta.id: d for d in old.get(site, ())}
        after = {d.meta.id: d for d in new.get(site, ())}
        put = tuple(
            d for d in new.get(site, ()) if d.meta.id not in before or before[d.meta.id] != d
        )
        gone = [d for d in old.get(site, ()) if d.meta.id not in after]
        delete = tuple(
            (d.kind, d.meta.id) for d in sorted(gone, key=lambda d: -ORDER.index(d.kind))
        )
        if put or delete:
            added = frozenset(d.meta.id for d in put if d.meta.id not in before)
            out[site] = SiteDelta(put, delete, added)
    return out


def heal_bindings(b: Bindings, vnfcs: tuple[str, ...] | None) -> Bindings:
    """``b`` with the heal counter of ``vnfcs`` (every placed VNFC when None) raised by one:
    their servers are rebuilt, keeping their ids, VNFC ids, volumes and networks."""
    chosen = tuple(b.sites) if vnfcs is None else vnfcs
    unknown = [v for v in chosen if v not in b.sites]
    if unknown:
        raise InvalidInput(
            "no such VNFC to heal",
            [Problem("vnfcInstanceId", f"{v!r} is not a VNFC of this instance") for v in unknown],
        )
    counts = dict(b.rebuilds)
    for vnfc in chosen:
        counts[vnfc] = counts.get(vnfc, 0) + 1
    return dataclasses.replace(b, rebuilds=MappingProxyType(counts))


def _handle(site: str, d: Desired | tuple[str, str], kind: str) -> ResourceHandle:
    obj_id = d.meta.id if isinstance(d, Desired) else d[1]
    return ResourceHandle(vim_connection_id=site, resource_id=obj_id, vim_level_resource_type=kind)


ChangeType = Literal["ADDED", "REMOVED", "MODIFIED"]


def resource_changes(delta: Mapping[str, SiteDelta], old: SiteIntent) -> ResourceChanges:
    """``delta`` (from ``old``) as SOL003 resourceChanges: each VNFC, link and storage
    added, removed or modified, with its site as ``vimConnectionId``."""
    olds = {d.meta.id: d for objs in old.values() for d in objs}
    vnfcs: list[AffectedVnfc] = []
    links: list[AffectedVirtualLink] = []
    storages: list[AffectedVirtualStorage] = []
    for site, sd in delta.items():
        entries: list[tuple[Desired, ChangeType]] = [
            (d, "ADDED" if d.meta.id in sd.added else "MODIFIED") for d in sd.put
        ]
        entries += [(olds[obj_id], "REMOVED") for _, obj_id in sd.delete if obj_id in olds]
        for d, change in entries:
            labels = d.meta.labels
            if d.kind == "server":
                vnfcs.append(
                    AffectedVnfc(
                        id=labels["vnf.vnfc"],
                        vdu_id=labels["vnf.vdu"],
                        change_type=change,
                        compute_resource=_handle(site, d, "server"),
                    )
                )
            elif d.kind == "network":
                links.append(
                    AffectedVirtualLink(
                        id=d.meta.id,
                        vnf_virtual_link_desc_id=labels["vnf.vl"],
                        change_type=change,
                        network_resource=_handle(site, d, "network"),
                    )
                )
            elif d.kind == "volume":
                storages.append(
                    AffectedVirtualStorage(
                        id=d.meta.id,
                        virtual_storage_desc_id=labels["vnf.storage"],
                        change_type=change,
                        storage_resource=_handle(site, d, "volume"),
                    )
                )
    return ResourceChanges(
        affected_vnfcs=tuple(vnfcs),
        affected_virtual_links=tuple(links),
        affected_virtual_storages=tuple(storages),
    )


def vnfc_resource_info(intent: SiteIntent) -> tuple[VnfcResourceInfo, ...]:
    """The instance's ``vnfcResourceInfo``: one per server, id = VNFC id (stable across
    heal), ``computeResource`` at its site, its volumes as storage resource ids."""
    out = []
    for site in sorted(intent):
        for d in intent[site]:
            if d.kind != "server":
                continue
            assert isinstance(d.spec, ServerSpec)
            out.append(
                VnfcResourceInfo(
                    id=d.meta.labels["vnf.vnfc"],
                    vdu_id=d.meta.labels["vnf.vdu"],
                    compute_resource=_handle(site, d, "server"),
                    zone_id=site,
                    storage_resource_ids=d.spec.volumes or None,
                )
            )
    return tuple(sorted(out, key=lambda v: v.id))


def sites_of(intent: SiteIntent) -> dict[str, str]:
    """VNFC id -> site of its server, from intent the hub stored (placement to keep)."""
    return {
        d.meta.labels["vnf.vnfc"]: site
        for site, objects in intent.items()
        for d in objects
        if d.kind == "server"
    }


def rebuilds_of(intent: SiteIntent) -> dict[str, int]:
    """VNFC id -> heal counter of its server, from intent the hub stored."""
    return {
        d.meta.labels["vnf.vnfc"]: d.spec.rebuilds
        for objects in intent.values()
        for d in objects
        if d.kind == "server" and isinstance(d.spec, ServerSpec)
    }


def stopped(intent: SiteIntent) -> dict[str, tuple[Desired, ...]]:
    """``intent`` with every server powered off: the first step of a GRACEFUL terminate
    (the site shuts the guests down; the engine deletes after the timeout, or sooner when
    the sites report them stopped)."""
    return {
        site: tuple(
            dataclasses.replace(d, spec=dataclasses.replace(d.spec, power="stopped"))
            if isinstance(d.spec, ServerSpec)
            else d
            for d in objects
        )
        for site, objects in intent.items()
    }
