"""Placement of VDU instances on sites: explicit, by labels/region with capacity, rules."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.nfv.definitions import BundledTypes
from atoll.nfv.errors import NoPlacement
from atoll.nfv.lcm.placement import Need, SiteFigures, need_of, place
from atoll.nfv.lcm.requests import PlacementRequest
from atoll.nfv.model import PlacementRule
from atoll.nfv.package import load_package
from atoll.nfv.planning import DeploymentPlan, plan
from tests.nfv.packages import PACKAGES

BUNDLED = BundledTypes()
HELLO = load_package(PACKAGES / "helloworld3-functional", bundled=BUNDLED)
FREE5GC = load_package(PACKAGES / "free5gc-anti-affinity-zone", bundled=BUNDLED)
BIG = Need(64, 256 * 1024, 2000)


def site(
    name: str,
    capacity: Need = BIG,
    region: str = "default",
    hosts: int = 1,
    available: bool = True,
    **labels: str,
) -> SiteFigures:
    return SiteFigures(
        name,
        capacity,
        region=region,
        labels=MappingProxyType(labels),
        hosts=hosts,
        available=available,
    )


def with_rules(p: DeploymentPlan, *rules: PlacementRule) -> DeploymentPlan:
    return DeploymentPlan(
        p.flavour_id,
        p.instantiation_level,
        p.scale_levels,
        p.vdu_counts,
        p.instances,
        p.virtual_links,
        rules,
    )


def test_zone_anti_affinity_spreads_a_vdu_over_sites() -> None:
    hello = plan(HELLO, "simple")  # VDU2 has 2 instances, anti-affinity at zone per VDU
    placed = place(hello, PlacementRequest(), (site("s1"), site("s2")))
    assert placed["VDU2-0"] != placed["VDU2-1"]
    with pytest.raises(NoPlacement) as caught:
        place(hello, PlacementRequest(sites=("s1",)), (site("s1"), site("s2")))
    text = str(caught.value)
    assert "vdu.VDU2" in text and "VDU2-1" in text and "policy_antiaffinity_vdu2" in text


def test_nfvi_node_anti_affinity_spreads_over_hosts_and_may_share_a_site() -> None:
    hello = plan(HELLO, "simple")
    rule = PlacementRule("apart", "anti-affinity", "nfvi_node", ("VDU2",), ("VDU2",))
    hosts = with_rules(hello, rule)
    assert set(place(hosts, PlacementRequest(sites=("s1",)), (site("s1", hosts=3),)).values()) == {
        "s1"
    }
    with pytest.raises(NoPlacement, match="its 1 host"):
        place(hosts, PlacementRequest(sites=("s1",)), (site("s1"),))


def test_affinity_keeps_a_group_together() -> None:
    hello = plan(HELLO, "simple")
    rule = PlacementRule("together", "affinity", "zone", ("VDU1", "VDU2"), ("VDU1", "VDU2"))
    placed = place(
        with_rules(hello, rule), PlacementRequest(), (site("s1"), site("s2"), site("s3"))
    )
    assert len(set(placed.values())) == 1


def test_explicit_sites_per_vdu() -> None:
    hello = plan(HELLO, "simple")
    request = PlacementRequest(vdu_sites=MappingProxyType({"VDU1": ("s3",), "VDU2": ("s1", "s2")}))
    placed = place(hello, request, (site("s1"), site("s2"), site("s3")))
    assert placed == {"VDU1-0": "s3", "VDU2-0": "s1", "VDU2-1": "s2"}
    with pytest.raises(NoPlacement, match="no such site 'nowhere'"):
        place(hello, PlacementRequest(sites=("nowhere",)), (site("s1"),))
    typo = PlacementRequest(vdu_sites=MappingProxyType({"VDU3": ("s1",)}))
    with pytest.raises(NoPlacement, match=r"vduSites\.VDU3: not a VDU of flavour"):
        place(hello, typo, (site("s1"),))


def test_labels_region_and_maintenance_choose_candidates() -> None:
    hello = plan(HELLO, "simple")
    sites = (
        site("a", region="north", tier="edge"),
        site("b", region="north", tier="edge"),
        site("c", region="south", tier="edge"),
        site("d", region="north", tier="core"),
        site("e", region="north", tier="edge", available=False),
    )
    request = PlacementRequest(labels=MappingProxyType({"tier": "edge"}), region="north")
    assert set(place(hello, request, sites).values()) <= {"a", "b"}


def test_capacity_shortfall_names_the_vdu_and_what_is_short() -> None:
    free5gc = plan(FREE5GC, "simple")
    need = need_of(next(i for i in free5gc.instances if i.vdu == "free5gc"))
    small = Need(need.vcpus - 1, need.ram_mb, need.disk_gb + 10)
    with pytest.raises(NoPlacement) as caught:
        place(free5gc, PlacementRequest(), (site("s1", small), site("s2", small)))
    [problem] = caught.value.problems
    assert problem.where == "vdu.free5gc"
    assert f"s1: needs {need}, has {small} free" in problem.what
    assert f"s2: needs {need}, has {small} free" in problem.what


def test_existing_vnfcs_stay_and_usage_counts() -> None:
    hello = plan(HELLO, "simple")
    first = place(hello, PlacementRequest(), (site("s1"), site("s2"), site("s3")))
    again = place(hello, PlacementRequest(), (site("s3"), site("s2"), site("s1")), existing=first)
    assert again == first
    full = SiteFigures("s1", BIG, usage=BIG)
    assert "s1" not in place(hello, PlacementRequest(), (full, site("s2"), site("s3"))).values()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 8192), st.integers(0, 500), st.integers(1, 3)),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([None, "zone", "nfvi_node"]),
)
def test_placements_keep_capacity_and_rules(
    figures: list[tuple[int, int, int, int]], scope: str | None
) -> None:
    hello = plan(HELLO, "simple")
    rules = (
        ()
        if scope is None
        else (PlacementRule("r", "anti-affinity", scope, ("VDU1", "VDU2"), ("VDU1", "VDU2")),)
    )
    p = with_rules(hello, *rules)
    sites = tuple(site(f"s{n}", Need(c, r, d), hosts=h) for n, (c, r, d, h) in enumerate(figures))
    try:
        placed = place(p, PlacementRequest(), sites)
    except NoPlacement as exc:
        assert exc.problems and exc.problems[0].where.startswith("vdu.")
        return
    assert placed == place(p, PlacementRequest(), sites)  # deterministic
    for s in sites:
        here = [i for i in p.instances if placed[i.id] == s.id]
        total = Need()
        for i in here:
            total = total + need_of(i)
        assert total.fits_in(s.capacity)
        if scope == "zone":
            assert len(here) <= 1
        if scope == "nfvi_node":
            assert len(here) <= s.hosts
