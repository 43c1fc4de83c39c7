"""What LCM requests mean for the plan, and the instantiatedVnfInfo a deployment leaves."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from atoll.errors import InvalidInput
from atoll.nfv.definitions import BundledTypes
from atoll.nfv.errors import InvalidPlanRequest
from atoll.nfv.lcm.instance import InstantiatedVnfInfo
from atoll.nfv.lcm.intent import (
    Bindings,
    heal_bindings,
    rebuilds_of,
    site_intent,
    sites_of,
    stopped,
)
from atoll.nfv.lcm.operations import (
    current_plan,
    heal_targets,
    instantiate_plan,
    instantiated_info,
    scale_plan,
    scale_to_level_plan,
)
from atoll.nfv.lcm.placement import Need, SiteFigures, place
from atoll.nfv.lcm.requests import (
    InstantiateVnfRequest,
    PlacementRequest,
    ScaleVnfRequest,
    ScaleVnfToLevelRequest,
)
from atoll.nfv.package import load_package
from atoll.nfv.planning import DeploymentPlan
from atoll.resources import ServerSpec
from tests.nfv.packages import PACKAGES

HELLO = load_package(PACKAGES / "helloworld3-functional", bundled=BundledTypes())
SITES = tuple(SiteFigures(f"site-{n}", Need(64, 262144, 2000)) for n in "abc")
EXTERNAL: dict[tuple[str, str | None], str] = {
    (cp, None): "provider" for cp in ("VDU1_CP1", "VDU1_CP2", "VDU2_CP1", "VDU2_CP2")
}


def deploy(p: DeploymentPlan, existing: dict[str, str] | None = None) -> InstantiatedVnfInfo:
    b = Bindings(
        instance_id="0b4e1a63c5e54b8f9d2c6a7e8f9a0b1c",
        project_id="5f3c2b1a09e84d7c8b6a5f4e3d2c1b0a",
        images=MappingProxyType({"cirros-0.5.2-x86_64-disk": "9a8b7c6d5e4f43a2b1c0d9e8f7a6b5c4"}),
        flavors=MappingProxyType({"VDU1": "small", "VDU2": "small"}),
        networks=MappingProxyType(EXTERNAL),
        sites=MappingProxyType(place(p, PlacementRequest(), SITES, existing)),
    )
    info = instantiated_info(HELLO, p, site_intent(p, b))
    return InstantiatedVnfInfo.from_wire(info.to_wire())  # as the hub stores and reads it


def instantiate(level: str | None = None) -> InstantiatedVnfInfo:
    body = {"flavourId": "simple", **({"instantiationLevelId": level} if level else {})}
    return deploy(instantiate_plan(HELLO, InstantiateVnfRequest.from_wire(body)))


def counts(info: InstantiatedVnfInfo) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in info.vnfc_resource_info or ():
        out[v.vdu_id] = out.get(v.vdu_id, 0) + 1
    return out


def test_instantiated_info_says_what_runs_where() -> None:
    info = instantiate()
    assert info.flavour_id == "simple" and counts(info) == {"VDU1": 1, "VDU2": 2}
    assert [(s.aspect_id, s.scale_level) for s in info.scale_status or ()] == [
        ("worker_instance", 0)
    ]
    assert [(s.aspect_id, s.scale_level) for s in info.max_scale_levels or ()] == [
        ("worker_instance", 2)
    ]
    assert {v.compute_resource.vim_connection_id for v in info.vnfc_resource_info or ()} == {
        "site-a",
        "site-b",
        "site-c",
    }
    vdu1 = info.vnfc("VDU1-0")
    assert vdu1 is not None and vdu1.vnfc_cp_info is not None
    assert [c.cpd_id for c in vdu1.vnfc_cp_info][:2] == ["VDU1_CP1", "VDU1_CP2"]
    assert {e.cpd_id for e in info.ext_cp_info} == set(c for c, _ in EXTERNAL)
    links = info.vnf_virtual_link_resource_info or ()
    assert {link.vnf_virtual_link_desc_id for link in links} == {
        "internalVL1",
        "internalVL2",
        "internalVL3",
    }
    assert current_plan(HELLO, info) == instantiate_plan(
        HELLO, InstantiateVnfRequest.from_wire({"flavourId": "simple"})
    )


def test_scale_out_within_bounds_and_a_400_past_them() -> None:
    info = instantiate()
    out = ScaleVnfRequest.from_wire(
        {"type": "SCALE_OUT", "aspectId": "worker_instance", "numberOfSteps": 2}
    )
    bigger = scale_plan(HELLO, info, out)
    assert bigger.vdu_counts["VDU1"] == 3
    scaled = deploy(
        bigger,
        {v.id: v.compute_resource.vim_connection_id or "" for v in info.vnfc_resource_info or ()},
    )
    assert counts(scaled) == {"VDU1": 3, "VDU2": 2}
    assert [s.scale_level for s in scaled.scale_status or ()] == [2]
    again = ScaleVnfRequest.from_wire({"type": "SCALE_OUT", "aspectId": "worker_instance"})
    with pytest.raises(InvalidPlanRequest) as caught:
        scale_plan(HELLO, scaled, again)
    assert caught.value.http_status == 400
    assert [p.where for p in caught.value.problems] == ["body.numberOfSteps"]
    assert "3 is outside [0, 2]" in caught.value.problems[0].what
    down = ScaleVnfRequest.from_wire({"type": "SCALE_IN", "aspectId": "worker_instance"})
    with pytest.raises(InvalidPlanRequest, match="-1 is outside"):
        scale_plan(HELLO, info, down)
    nowhere = ScaleVnfRequest.from_wire({"type": "SCALE_OUT", "aspectId": "nope"})
    with pytest.raises(InvalidPlanRequest) as caught:
        scale_plan(HELLO, info, nowhere)
    assert [p.where for p in caught.value.problems] == ["body.aspectId"]


def test_scale_to_level() -> None:
    info = instantiate()
    by_level = ScaleVnfToLevelRequest.from_wire({"instantiationLevelId": "instantiation_level_2"})
    assert scale_to_level_plan(HELLO, info, by_level).vdu_counts == {"VDU1": 3, "VDU2": 2}
    by_aspect = ScaleVnfToLevelRequest.from_wire(
        {"scaleInfo": [{"aspectId": "worker_instance", "scaleLevel": 1}]}
    )
    assert scale_to_level_plan(HELLO, info, by_aspect).vdu_counts == {"VDU1": 2, "VDU2": 2}
    too_far = ScaleVnfToLevelRequest.from_wire(
        {"scaleInfo": [{"aspectId": "worker_instance", "scaleLevel": 5}]}
    )
    with pytest.raises(InvalidPlanRequest) as caught:
        scale_to_level_plan(HELLO, info, too_far)
    assert caught.value.problems[0].where == "body.scaleInfo"
    with pytest.raises(InvalidPlanRequest) as caught:
        instantiate_plan(HELLO, InstantiateVnfRequest.from_wire({"flavourId": "huge"}))
    assert caught.value.problems[0].where == "body.flavourId"


def test_an_instance_at_a_level_keeps_it() -> None:
    info = instantiate("instantiation_level_2")
    assert counts(info) == {"VDU1": 3, "VDU2": 2}
    assert current_plan(HELLO, info).instantiation_level == "instantiation_level_2"


def test_heal_targets() -> None:
    info = instantiate()
    assert heal_targets(info, None) == ("VDU1-0", "VDU2-0", "VDU2-1")
    assert heal_targets(info, ("VDU2-1", "VDU2-1")) == ("VDU2-1",)
    with pytest.raises(InvalidInput) as caught:
        heal_targets(info, ("VDU2-1", "VDU7-0"))
    assert [p.where for p in caught.value.problems] == ["body.vnfcInstanceId[1]"]


def test_stored_intent_gives_back_placement_and_heal_counters() -> None:
    p = instantiate_plan(HELLO, InstantiateVnfRequest.from_wire({"flavourId": "simple"}))
    b = Bindings(
        instance_id="0b4e1a63c5e54b8f9d2c6a7e8f9a0b1c",
        project_id="5f3c2b1a09e84d7c8b6a5f4e3d2c1b0a",
        images=MappingProxyType({"cirros-0.5.2-x86_64-disk": "9a8b7c6d5e4f43a2b1c0d9e8f7a6b5c4"}),
        flavors=MappingProxyType({"VDU1": "small", "VDU2": "small"}),
        networks=MappingProxyType(EXTERNAL),
        sites=MappingProxyType(place(p, PlacementRequest(), SITES)),
    )
    healed = site_intent(p, heal_bindings(b, ("VDU2-0",)))
    assert sites_of(healed) == dict(b.sites)
    assert rebuilds_of(healed) == {"VDU1-0": 0, "VDU2-0": 1, "VDU2-1": 0}
    off = stopped(healed)
    servers = [d for objs in off.values() for d in objs if isinstance(d.spec, ServerSpec)]
    assert servers and all(
        isinstance(d.spec, ServerSpec) and d.spec.power == "stopped" for d in servers
    )
    assert {d.meta.id for objs in off.values() for d in objs} == {
        d.meta.id for objs in healed.values() for d in objs
    }


def test_change_package_keeps_flavour_and_levels_where_the_new_package_has_them() -> None:
    from atoll.nfv.lcm.operations import change_vnfpkg_plan
    from atoll.nfv.lcm.requests import ChangeCurrentVnfPkgRequest

    info = instantiate("instantiation_level_2")
    same = ChangeCurrentVnfPkgRequest.from_wire({"vnfdId": HELLO.vnfd.descriptor_id})
    assert change_vnfpkg_plan(HELLO, info, same) == current_plan(HELLO, info)
    started = load_package(PACKAGES / "getting-started", bundled=BundledTypes())
    wrong = ChangeCurrentVnfPkgRequest.from_wire({"vnfdId": "not-this-one"})
    with pytest.raises(InvalidPlanRequest, match="the package given is"):
        change_vnfpkg_plan(started, info, wrong)
    other = ChangeCurrentVnfPkgRequest.from_wire({"vnfdId": started.vnfd.descriptor_id})
    with pytest.raises(InvalidPlanRequest) as caught:
        change_vnfpkg_plan(started, info, other)
    assert {p.where for p in caught.value.problems} == {"body.vnfdId"}
