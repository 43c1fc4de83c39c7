"""Planning properties over every conformance flavour, level and reachable scale level."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.nfv.definitions import BundledTypes
from atoll.nfv.errors import InvalidPlanRequest
from atoll.nfv.model import Flavour, VnfPackage
from atoll.nfv.package import load_package
from atoll.nfv.planning import diff, plan, scale
from tests.nfv.packages import NAMES, PACKAGES

BUNDLED = BundledTypes()
MODELS = {name: load_package(PACKAGES / name, bundled=BUNDLED) for name in NAMES}
CASES = [(name, flavour) for name, pkg in MODELS.items() for flavour in pkg.vnfd.flavours]


@st.composite
def requests(draw: st.DrawFn) -> tuple[VnfPackage, Flavour, str | None, dict[str, int]]:
    name, flavour = draw(st.sampled_from(CASES))
    levels = [None, *(lv.id for lv in flavour.instantiation_levels)]
    level = draw(st.sampled_from(levels))
    scale_levels = {
        a.id: draw(st.integers(0, a.max_scale_level))
        for a in flavour.aspects
        if draw(st.booleans())
    }
    return MODELS[name], flavour, level, scale_levels


@settings(max_examples=150, deadline=None)
@given(requests())
def test_counts_always_within_vdu_profile_bounds(
    request: tuple[VnfPackage, Flavour, str | None, dict[str, int]],
) -> None:
    pkg, flavour, level, scale_levels = request
    try:
        result = plan(pkg, flavour.id, level, scale_levels)
    except InvalidPlanRequest as exc:
        # Only a request that would leave a VDU's bounds may be refused, and it says which.
        assert all("outside its vdu_profile" in p.what for p in exc.problems)
        return
    for vdu in flavour.vdus:
        count = result.vdu_counts[vdu.id]
        assert vdu.min_instances <= count <= vdu.max_instances
        assert sum(1 for i in result.instances if i.vdu == vdu.id) == count
    for aspect in flavour.aspects:
        assert 0 <= result.scale_levels[aspect.id] <= aspect.max_scale_level
    assert plan(pkg, flavour.id, level, scale_levels) == result  # deterministic


@settings(max_examples=150, deadline=None)
@given(requests(), st.data())
def test_scale_out_then_in_returns_to_the_same_plan(
    request: tuple[VnfPackage, Flavour, str | None, dict[str, int]], data: st.DataObject
) -> None:
    pkg, flavour, level, scale_levels = request
    if not flavour.aspects:
        return
    try:
        start = plan(pkg, flavour.id, level, scale_levels)
    except InvalidPlanRequest:
        return
    aspect = data.draw(st.sampled_from(flavour.aspects))
    room = aspect.max_scale_level - start.scale_levels[aspect.id]
    steps = data.draw(st.integers(0, room))
    try:
        bigger = scale(pkg, start, aspect.id, steps)
    except InvalidPlanRequest:
        return
    delta = diff(start, bigger)
    assert delta.removed == ()
    assert len(delta.added) == sum(bigger.vdu_counts.values()) - sum(start.vdu_counts.values())
    back = scale(pkg, bigger, aspect.id, -steps)
    assert back == start
    assert diff(bigger, back).added == ()
