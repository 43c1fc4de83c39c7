"""From a placed plan to per-site intent, and the diffs of scale, heal and terminate."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from atoll import ids
from atoll.errors import InvalidInput
from atoll.nfv.definitions import BundledTypes
from atoll.nfv.lcm.intent import (
    Bindings,
    diff,
    heal_bindings,
    resource_changes,
    site_intent,
    vnfc_resource_info,
)
from atoll.nfv.lcm.placement import Need, SiteFigures, place
from atoll.nfv.lcm.requests import PlacementRequest
from atoll.nfv.package import load_package
from atoll.nfv.planning import DeploymentPlan, plan, scale
from atoll.resources import Desired, ServerSpec, SubnetSpec
from tests.nfv.packages import PACKAGES

BUNDLED = BundledTypes()
HELLO = load_package(PACKAGES / "helloworld3-functional", bundled=BUNDLED)
STARTED = load_package(PACKAGES / "getting-started", bundled=BUNDLED)
INSTANCE = "0b4e1a63c5e54b8f9d2c6a7e8f9a0b1c"
PROJECT = "5f3c2b1a09e84d7c8b6a5f4e3d2c1b0a"
IMAGE = "9a8b7c6d5e4f43a2b1c0d9e8f7a6b5c4"
SITES = tuple(SiteFigures(f"site-{n}", Need(64, 262144, 2000)) for n in "abc")
EXTERNAL: dict[tuple[str, str | None], str] = {
    (cp, None): "provider" for cp in ("VDU1_CP1", "VDU1_CP2", "VDU2_CP1", "VDU2_CP2")
}


def bindings(p: DeploymentPlan, existing: dict[str, str] | None = None) -> Bindings:
    return Bindings(
        instance_id=INSTANCE,
        project_id=PROJECT,
        images=MappingProxyType({"cirros-0.5.2-x86_64-disk": IMAGE, "Software of VDU1": IMAGE}),
        flavors=MappingProxyType({"VDU1": "small", "VDU2": "medium"}),
        networks=MappingProxyType(EXTERNAL),
        sites=MappingProxyType(place(p, PlacementRequest(), SITES, existing)),
    )


def every(intent: dict[str, tuple[Desired, ...]]) -> list[Desired]:
    return [d for objs in intent.values() for d in objs]


def test_every_object_is_valid_owned_and_derived_from_names() -> None:
    p = plan(HELLO, "simple")
    intent = site_intent(p, bindings(p))
    assert set(intent) == {"site-a", "site-b", "site-c"}  # VDU2 instances kept apart
    for objects in intent.values():
        kinds = [d.kind for d in objects]
        assert kinds == sorted(kinds, key=("network", "subnet", "volume", "server").index)
        for d in objects:
            assert Desired.from_wire(d.to_wire()) == d  # passes the site's own checks
            assert d.origin == "hub" and d.meta.project_id == PROJECT
            assert d.meta.owner is not None and d.meta.owner.kind == "vnf_instance"
            assert d.meta.owner.id == INSTANCE
            assert ids.origin_of(d.meta.id) == "hub"
    ids_seen = [d.meta.id for d in every(intent)]
    assert len(ids_seen) == len(set(ids_seen))
    assert site_intent(p, bindings(p)) == intent  # a retried operation writes the same objects


def test_a_vnfc_becomes_a_server_wired_to_its_links() -> None:
    p = plan(HELLO, "simple")
    b = bindings(p)
    intent = site_intent(p, b)
    site = b.sites["VDU1-0"]
    objects = {d.meta.id: d for d in intent[site]}
    [server] = [
        d for d in intent[site] if d.kind == "server" and d.meta.labels["vnf.vnfc"] == "VDU1-0"
    ]
    assert isinstance(server.spec, ServerSpec)
    assert server.meta.owner is not None and server.meta.owner.part == "VDU1-0"
    assert server.spec.image == IMAGE and server.spec.flavor == "small"
    # VDU1 boots from its virtual storage's image: no separate volume for it.
    assert server.spec.volumes == ()
    nets = [n.network for n in server.spec.nics]
    assert nets[:2] == ["provider", "provider"]  # the external CPs
    internal = [objects[n] for n in nets[2:]]
    assert [d.meta.labels["vnf.vl"] for d in internal] == [
        "internalVL1",
        "internalVL2",
        "internalVL3",
    ]
    subnets = [d for d in intent[site] if d.kind == "subnet"]
    assert {d.spec.cidr for d in subnets if isinstance(d.spec, SubnetSpec)} == {
        "33.33.0.0/24",
        "33.34.0.0/24",
        "33.35.0.0/24",
    }


def test_instantiate_then_scale_out_and_in() -> None:
    start = plan(HELLO, "simple")
    aspect = HELLO.vnfd.flavour("simple").aspects[0]
    b0 = bindings(start)
    before = site_intent(start, b0)
    created = diff({}, before)
    changes = resource_changes(created, {})
    assert {v.id for v in changes.affected_vnfcs} == {i.id for i in start.instances}
    assert {v.change_type for v in changes.affected_vnfcs} == {"ADDED"}
    assert all(v.compute_resource.vim_connection_id for v in changes.affected_vnfcs)

    bigger = scale(HELLO, start, aspect.id, 1)
    b1 = bindings(bigger, existing=dict(b0.sites))
    after = site_intent(bigger, b1)
    grown = diff(before, after)
    new_vnfcs = {i.id for i in bigger.instances} - {i.id for i in start.instances}
    added = resource_changes(grown, before)
    assert {v.id for v in added.affected_vnfcs} == new_vnfcs
    assert {v.change_type for v in added.affected_vnfcs} == {"ADDED"}
    assert all(not sd.delete for sd in grown.values())

    shrunk = diff(after, before)
    removed = resource_changes(shrunk, after)
    assert {v.id for v in removed.affected_vnfcs} == new_vnfcs
    assert {v.change_type for v in removed.affected_vnfcs} == {"REMOVED"}
    assert all(not sd.put for sd in shrunk.values())


def test_heal_rebuilds_in_place_with_stable_ids() -> None:
    p = plan(HELLO, "simple")
    b = bindings(p)
    before = site_intent(p, b)
    healed = site_intent(p, heal_bindings(b, ("VDU2-1",)))
    delta = diff(before, healed)
    [(site, sd)] = delta.items()
    assert site == b.sites["VDU2-1"] and not sd.delete and not sd.added
    [server] = sd.put
    assert server.kind == "server" and isinstance(server.spec, ServerSpec)
    assert server.spec.rebuilds == 1
    changes = resource_changes(delta, before)
    assert [(v.id, v.change_type) for v in changes.affected_vnfcs] == [("VDU2-1", "MODIFIED")]
    assert vnfc_resource_info(healed) == vnfc_resource_info(before)  # same VNFC and server ids
    twice = heal_bindings(heal_bindings(b, None), None)
    assert set(twice.rebuilds.values()) == {2}
    with pytest.raises(InvalidInput, match="'VDU9-0' is not a VNFC"):
        heal_bindings(b, ("VDU9-0",))


def test_terminate_removes_everything_servers_first() -> None:
    p = plan(HELLO, "simple")
    before = site_intent(p, bindings(p))
    gone = diff(before, {})
    for sd in gone.values():
        kinds = [kind for kind, _ in sd.delete]
        assert kinds == sorted(kinds, key=("server", "volume", "subnet", "network").index)
    assert {i for sd in gone.values() for _, i in sd.delete} == {d.meta.id for d in every(before)}
    assert diff(before, before) == {}


def test_what_cannot_be_made_is_named() -> None:
    p = plan(STARTED, "simple")
    b = bindings(p)
    no_image = Bindings(
        b.instance_id, b.project_id, MappingProxyType({}), b.flavors, b.networks, b.sites
    )
    with pytest.raises(InvalidInput, match="no hub image for sw image 'Software of VDU1'"):
        site_intent(p, no_image)
    no_flavor = Bindings(
        b.instance_id, b.project_id, b.images, MappingProxyType({}), b.networks, b.sites
    )
    with pytest.raises(InvalidInput, match=r"vdu\.VDU1: no flavor chosen"):
        site_intent(p, no_flavor)
    unplaced = Bindings(
        b.instance_id, b.project_id, b.images, b.flavors, b.networks, MappingProxyType({})
    )
    with pytest.raises(InvalidInput, match=r"vnfc\.VDU1-0: has no site"):
        site_intent(p, unplaced)
    hello = plan(HELLO, "simple")
    hb = bindings(hello)
    no_ext = Bindings(
        hb.instance_id, hb.project_id, hb.images, hb.flavors, MappingProxyType({}), hb.sites
    )
    with pytest.raises(InvalidInput, match="no entry connects CP 'VDU1_CP1'"):
        site_intent(hello, no_ext)


def test_derived_ids_differ_by_instance() -> None:
    p = plan(STARTED, "simple")
    b = bindings(p)
    other = Bindings(
        "1c2d3e4f5a6b4c7d8e9f0a1b2c3d4e5f", b.project_id, b.images, b.flavors, b.networks, b.sites
    )
    mine = {d.meta.id for d in every(site_intent(p, b))}
    theirs = {d.meta.id for d in every(site_intent(p, other))}
    assert not mine & theirs
    names = {d.meta.name for d in every(site_intent(p, b))}
    assert names.isdisjoint({d.meta.name for d in every(site_intent(p, other))})


def test_what_a_site_would_refuse_is_refused_here_naming_the_vnfc_or_link() -> None:
    p = plan(STARTED, "simple")
    [one] = p.instances
    crowded = dataclasses.replace(p, instances=(dataclasses.replace(one, ports=one.ports * 9),))
    with pytest.raises(InvalidInput) as caught:
        site_intent(crowded, bindings(crowded))
    assert [pr.where for pr in caught.value.problems] == ["site site-a: server of VDU1-0.spec.nics"]
    assert "at most 8" in caught.value.problems[0].what
    [link] = p.virtual_links
    bad = dataclasses.replace(
        link, protocols=(dataclasses.replace(link.protocols[0], cidr="127.0.0.0/24"),)
    )
    looped = dataclasses.replace(p, virtual_links=(bad,))
    with pytest.raises(InvalidInput) as caught:
        site_intent(looped, bindings(looped))
    assert caught.value.problems[0].where == "site site-a: subnet of internalVL1.spec.cidr"
    assert "loopback" in caught.value.problems[0].what
