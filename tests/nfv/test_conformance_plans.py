"""Plans of every conformance package, for each flavour and instantiation level."""

from __future__ import annotations

import pytest

from atoll.nfv.errors import InvalidPlanRequest
from atoll.nfv.model import Bitrate
from atoll.nfv.package import load_package
from atoll.nfv.planning import diff, plan, scale
from tests.nfv.packages import PACKAGES

GB = 1000**3

# (package, flavour, level asked) -> (level used, instances per VDU, scale level per aspect)
EXPECTED = [
    ("getting-started", "simple", None, None, {"VDU1": 1}, {}),
    (
        "helloworld3-vnflcm1",
        "simple",
        None,
        "instantiation_level_1",
        {"VDU1": 1},
        {"worker_instance": 0},
    ),
    (
        "helloworld3-vnflcm1",
        "simple",
        "instantiation_level_2",
        "instantiation_level_2",
        {"VDU1": 3},
        {"worker_instance": 2},
    ),
    (
        "helloworld3-functional",
        "simple",
        "instantiation_level_1",
        "instantiation_level_1",
        {"VDU1": 1, "VDU2": 2},
        {"worker_instance": 0},
    ),
    (
        "helloworld3-functional",
        "simple",
        "instantiation_level_2",
        "instantiation_level_2",
        {"VDU1": 3, "VDU2": 2},
        {"worker_instance": 2},
    ),
    ("helloworld3-compliance", "default", "n-vnf-min", "n-vnf-min", {"VDU1": 1}, {"VDU1": 0}),
    ("helloworld3-compliance", "default", "n-vnf-ten", "n-vnf-ten", {"VDU1": 10}, {"VDU1": 9}),
    ("helloworld3-compliance", "default", "n-vnf-max", "n-vnf-max", {"VDU1": 50}, {"VDU1": 49}),
    (
        "free5gc",
        "simple",
        "instantiation_level_1",
        "instantiation_level_1",
        {"free5gc": 1},
        {"free5gc_instance": 0},
    ),
    (
        "free5gc",
        "simple",
        "instantiation_level_2",
        "instantiation_level_2",
        {"free5gc": 2},
        {"free5gc_instance": 1},
    ),
    (
        "free5gc-anti-affinity-zone",
        "simple",
        "instantiation_level_1",
        "instantiation_level_1",
        {"free5gc": 1, "VDU2": 1},
        {"free5gc_instance": 0},
    ),
    (
        "free5gc-anti-affinity-zone",
        "simple",
        "instantiation_level_2",
        "instantiation_level_2",
        {"free5gc": 2, "VDU2": 1},
        {"free5gc_instance": 1},
    ),
    ("practical", "ha", None, None, {"VDU_0": 1, "VDU_1": 1}, {}),
    ("practical", "scalable", None, None, {"VDU_0": 1, "VDU_1": 1, "VDU_2": 0}, {"VDU_2": 0}),
    (
        "practical",
        "scalable",
        "r-node-min",
        "r-node-min",
        {"VDU_0": 1, "VDU_1": 1, "VDU_2": 0},
        {"VDU_2": 0},
    ),
    (
        "practical",
        "scalable",
        "r-node-max",
        "r-node-max",
        {"VDU_0": 1, "VDU_1": 1, "VDU_2": 1},
        {"VDU_2": 1},
    ),
]


@pytest.mark.parametrize(("name", "flavour", "level", "used", "vdus", "scale_levels"), EXPECTED)
def test_plan_counts(
    name: str,
    flavour: str,
    level: str | None,
    used: str | None,
    vdus: dict[str, int],
    scale_levels: dict[str, int],
) -> None:
    pkg = load_package(PACKAGES / name)
    result = plan(pkg, flavour, level)
    assert result.instantiation_level == used
    assert dict(result.vdu_counts) == vdus
    assert dict(result.scale_levels) == scale_levels
    assert [i.vdu for i in result.instances] == [v for v, n in vdus.items() for _ in range(n)]
    assert len({i.id for i in result.instances}) == len(result.instances)


def test_plan_helloworld3_functional_level_2_in_detail() -> None:
    pkg = load_package(PACKAGES / "helloworld3-functional")
    result = plan(pkg, "simple", "instantiation_level_2")
    assert [i.id for i in result.instances] == ["VDU1-0", "VDU1-1", "VDU1-2", "VDU2-0", "VDU2-1"]
    first = result.instances[0]
    assert [p.cp for p in first.ports] == [f"VDU1_CP{i}" for i in range(1, 6)]
    assert [(p.virtual_link, p.external_link) for p in first.ports[:3]] == [
        (None, "virtual_link_external1_1"),
        (None, "virtual_link_external2_1"),
        ("internalVL1", None),
    ]
    assert [(v.id, v.size_bytes, v.image) for v in first.volumes] == [
        ("VDU1-0/VirtualStorage", GB, "cirros-0.5.2-x86_64-disk")
    ]
    assert result.instances[3].volumes == ()
    assert result.instances[3].image == "cirros-0.5.2-x86_64-disk"
    assert [(c.rule, c.kind, c.scope, c.vdus) for c in first.placement] == [
        ("policy_antiaffinity_vdu1", "anti-affinity", "zone", ("VDU1",))
    ]
    assert [link.id for link in result.virtual_links] == [
        "internalVL1",
        "internalVL2",
        "internalVL3",
    ]
    assert result.virtual_links[0].bitrate == Bitrate(1048576, 1048576)
    assert sum(len(i.ports) for i in result.instances) == 25


def test_plan_practical_scalable_group_placement() -> None:
    pkg = load_package(PACKAGES / "practical")
    result = plan(pkg, "scalable", "r-node-max")
    for instance in result.instances:
        (constraint,) = instance.placement
        assert (constraint.kind, constraint.scope) == ("anti-affinity", "nfvi_node")
        assert constraint.vdus == ("VDU_0", "VDU_1", "VDU_2")
    assert result.virtual_links[0].bitrate == Bitrate(1000000, None)


def test_scale_out_gives_the_delta_and_scale_in_returns() -> None:
    pkg = load_package(PACKAGES / "helloworld3-compliance")
    start = plan(pkg, "default", "n-vnf-min")
    bigger = scale(pkg, start, "VDU1", 3)
    delta = diff(start, bigger)
    assert [i.id for i in delta.added] == ["VDU1-1", "VDU1-2", "VDU1-3"]
    assert delta.removed == ()
    assert scale(pkg, bigger, "VDU1", -3) == start
    assert [i.id for i in diff(bigger, start).removed] == ["VDU1-1", "VDU1-2", "VDU1-3"]


def test_plan_requests_the_flavour_does_not_offer_are_refused() -> None:
    pkg = load_package(PACKAGES / "helloworld3-vnflcm1")
    with pytest.raises(InvalidPlanRequest) as bad_flavour:
        plan(pkg, "gold")
    assert str(bad_flavour.value.problems[0]) == (
        "flavour_id: 'gold' is not a flavour of this VNF (known: simple)"
    )
    with pytest.raises(InvalidPlanRequest) as bad_level:
        plan(pkg, "simple", "level_9")
    assert "'level_9' is not a level of flavour 'simple'" in str(bad_level.value)
    with pytest.raises(InvalidPlanRequest) as too_far:
        scale(pkg, plan(pkg, "simple"), "worker_instance", 3)
    assert str(too_far.value.problems[0]) == (
        "scale_levels.worker_instance: scale level 3 is outside [0, 2]"
    )
    with pytest.raises(InvalidPlanRequest):
        scale(pkg, plan(pkg, "simple"), "worker_instance", -1)


def test_plan_with_explicit_scale_levels() -> None:
    pkg = load_package(PACKAGES / "helloworld3-functional")
    result = plan(pkg, "simple", "instantiation_level_1", {"worker_instance": 1})
    assert dict(result.vdu_counts) == {"VDU1": 2, "VDU2": 2}
    assert dict(result.scale_levels) == {"worker_instance": 1}
    down = plan(pkg, "simple", "instantiation_level_2", {"worker_instance": 0})
    assert down.vdu_counts == plan(pkg, "simple", "instantiation_level_1").vdu_counts
