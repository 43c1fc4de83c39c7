"""Packages as vendors write them: onboarding refuses only what SOL001 makes invalid.

A level or aspect asking for more instances of a VDU than its ``vdu_profile`` allows is
onboarded with a warning at its file:line, and the plan that would actually go past the bound
is refused naming the VDU, the count and the bound. A requirement SOL001 allows once and the
package repeats is refused at the repeat, never reduced to its first target.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.errors import InvalidInput
from atoll.nfv.errors import InvalidPlanRequest
from atoll.nfv.lcm.instance import InstantiatedVnfInfo
from atoll.nfv.lcm.operations import instantiated_info, scale_plan
from atoll.nfv.lcm.requests import ScaleVnfRequest
from atoll.nfv.model import VnfPackage
from atoll.nfv.package import load_package
from atoll.nfv.planning import MAX_PLANNED_INSTANCES, plan, scale

# VDU1 [1, 3] and VDU2 [1, 4], one instance each at scale level 0 and one more per step of
# aspect "workers" (max_scale_level 4). Level "big" is workers at 4: VDU1 gets 5 from
# VduInstantiationLevels, VDU2 5 from the aspect's deltas. Both past their bounds, as vendors
# write them.
VNFD = """\
tosca_definitions_version: tosca_simple_yaml_1_2
imports:
  - etsi_nfv_sol001_common_types.yaml
  - etsi_nfv_sol001_vnfd_types.yaml
topology_template:
  node_templates:
    VNF:
      type: tosca.nodes.nfv.VNF
      properties:
        descriptor_id: b1f0c9a2-5d1e-4c3b-9a8f-0e7d6c5b4a39
        descriptor_version: '1.0'
        provider: Example
        product_name: Bounds
        software_version: '1.0'
        vnfm_info: [ Atoll ]
        flavour_id: simple
        flavour_description: the only flavour
    VDU1:
      type: tosca.nodes.nfv.Vdu.Compute
      properties:
        name: VDU1
        description: the worker
        vdu_profile:
          min_number_of_instances: 1
          max_number_of_instances: 3
      capabilities:
        virtual_compute:
          properties:
            virtual_memory:
              virtual_mem_size: 512 MB
            virtual_cpu:
              num_virtual_cpu: 1
    VDU2:
      type: tosca.nodes.nfv.Vdu.Compute
      properties:
        name: VDU2
        description: the helper
        vdu_profile:
          min_number_of_instances: 1
          max_number_of_instances: 4
      capabilities:
        virtual_compute:
          properties:
            virtual_memory:
              virtual_mem_size: 512 MB
            virtual_cpu:
              num_virtual_cpu: 1
    CP1:
      type: tosca.nodes.nfv.VduCp
      properties:
        layer_protocols: [ ipv4 ]
      requirements:
        - virtual_binding: VDU1
        - virtual_link: VL1
    VL1:
      type: tosca.nodes.nfv.VnfVirtualLink
      properties:
        connectivity_type:
          layer_protocols: [ ipv4 ]
        vl_profile:
          max_bitrate_requirements:
            root: 1048576
          min_bitrate_requirements:
            root: 1048576
    VL2:
      type: tosca.nodes.nfv.VnfVirtualLink
      properties:
        connectivity_type:
          layer_protocols: [ ipv4 ]
        vl_profile:
          max_bitrate_requirements:
            root: 1048576
          min_bitrate_requirements:
            root: 1048576
  policies:
    - scaling:
        type: tosca.policies.nfv.ScalingAspects
        properties:
          aspects:
            workers:
              name: workers
              description: more workers
              max_scale_level: 4
              step_deltas: [ delta_1 ]
    - deltas:
        type: tosca.policies.nfv.VduScalingAspectDeltas
        properties:
          aspect: workers
          deltas:
            delta_1:
              number_of_instances: 1
        targets: [ VDU1, VDU2 ]
    - initial:
        type: tosca.policies.nfv.VduInitialDelta
        properties:
          initial_delta:
            number_of_instances: 1
        targets: [ VDU1, VDU2 ]
    - levels:
        type: tosca.policies.nfv.InstantiationLevels
        properties:
          levels:
            small:
              description: one of each
              scale_info:
                workers:
                  scale_level: 0
            big:
              description: all the workers
              scale_info:
                workers:
                  scale_level: 4
          default_level: small
    - VDU1_levels:
        type: tosca.policies.nfv.VduInstantiationLevels
        properties:
          levels:
            small:
              number_of_instances: 1
            big:
              number_of_instances: 5
        targets: [ VDU1 ]
"""
AT = "vnfd.yaml"
NODES = "topology_template.node_templates"
POLICIES = "topology_template.policies"


def line_of(text: str, needle: str, after: str = "") -> int:
    """The 1-based line of ``needle`` (the first after ``after``) in ``text``."""
    start = text.index(after) if after else 0
    return text[: text.index(needle, start)].count("\n") + 1


def load(tmp_path: Path, text: str) -> VnfPackage:
    (tmp_path / AT).write_text(text)
    return load_package(tmp_path)


def refusal(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / AT).write_text(text)
    with pytest.raises(InvalidInput) as refused:
        load_package(tmp_path)
    return [str(p) for p in refused.value.problems]


def test_levels_and_aspects_past_a_vdu_profile_are_onboarded_with_warnings(
    tmp_path: Path,
) -> None:
    pkg = load(tmp_path, VNFD)
    aspect = line_of(VNFD, "workers:", "aspects:")
    big = line_of(VNFD, "big:", "levels:")
    vdu1_big = line_of(VNFD, "big:", "VDU1_levels:")
    assert [str(w) for w in pkg.warnings] == [
        f"{AT}:{vdu1_big}: {POLICIES}[4].VDU1_levels.properties.levels.big: "
        "5 instances of VDU1 asked for, outside its vdu_profile [1, 3]: "
        "max_number_of_instances is 3; an instantiate or scale to level big will be refused",
        f"{AT}:{aspect}: {POLICIES}[0].scaling.properties.aspects.workers: "
        "aspect workers asks for 5 instances of VDU1 at its max_scale_level 4 "
        "(from 1 at scale level 0), more than its vdu_profile [1, 3] allows; "
        "scaling it past level 2 will be refused",
        f"{AT}:{big}: {POLICIES}[3].levels.properties.levels.big: "
        "5 instances of VDU2 asked for, outside its vdu_profile [1, 4]: "
        "max_number_of_instances is 4; an instantiate or scale to level big will be refused",
        f"{AT}:{aspect}: {POLICIES}[0].scaling.properties.aspects.workers: "
        "aspect workers asks for 5 instances of VDU2 at its max_scale_level 4 "
        "(from 1 at scale level 0), more than its vdu_profile [1, 4] allows; "
        "scaling it past level 3 will be refused",
    ]


def test_the_plan_that_would_go_past_the_bound_is_refused_naming_vdu_count_and_bound(
    tmp_path: Path,
) -> None:
    pkg = load(tmp_path, VNFD)
    small = plan(pkg, "simple")
    assert small.instantiation_level == "small"
    assert dict(small.vdu_counts) == {"VDU1": 1, "VDU2": 1}
    with pytest.raises(InvalidPlanRequest) as refused:
        plan(pkg, "simple", "big")
    assert [str(p) for p in refused.value.problems] == [
        "vdu.VDU1: 5 instances of VDU1 asked for, outside its vdu_profile [1, 3]: "
        "max_number_of_instances is 3",
        "vdu.VDU2: 5 instances of VDU2 asked for, outside its vdu_profile [1, 4]: "
        "max_number_of_instances is 4",
    ]
    # up to the level the warning named, scaling works; one step past it is refused
    two = scale(pkg, small, "workers", 2)
    assert dict(two.vdu_counts) == {"VDU1": 3, "VDU2": 3}
    with pytest.raises(InvalidPlanRequest) as refused:
        scale(pkg, two, "workers", 1)
    assert [str(p) for p in refused.value.problems] == [
        "vdu.VDU1: 4 instances of VDU1 asked for, outside its vdu_profile [1, 3]: "
        "max_number_of_instances is 3"
    ]
    # the same through the LCM layer the hub calls, from an instance's instantiatedVnfInfo
    info: InstantiatedVnfInfo = instantiated_info(pkg, two, {})
    request = ScaleVnfRequest(type="SCALE_OUT", aspect_id="workers", number_of_steps=1)
    with pytest.raises(InvalidPlanRequest) as refused:
        scale_plan(pkg, info, request)
    assert "4 instances of VDU1 asked for" in str(refused.value)
    back = scale_plan(pkg, info, ScaleVnfRequest(type="SCALE_IN", aspect_id="workers"))
    assert dict(back.vdu_counts) == {"VDU1": 2, "VDU2": 2}


def test_an_initial_delta_past_the_bound_is_a_warning_and_refused_when_used(
    tmp_path: Path,
) -> None:
    old = "initial_delta:\n            number_of_instances: 1"
    assert VNFD.count(old) == 1
    text = VNFD.replace(old, "initial_delta:\n            number_of_instances: 4")
    pkg = load(tmp_path, text)
    initial = line_of(text, "properties:", "- initial:")
    assert (
        f"{AT}:{initial}: {POLICIES}[2].initial.properties: 4 instances of VDU1 asked for, "
        "outside its vdu_profile [1, 3]: max_number_of_instances is 3; an instantiate that "
        "starts from it will be refused"
    ) in [str(w) for w in pkg.warnings]
    assert not any("initial.properties: 4 instances of VDU2" in str(w) for w in pkg.warnings)
    # level "small" gives VDU1 its own count (1): that plan is fine; VDU2 starts at 4
    assert dict(plan(pkg, "simple", "small").vdu_counts) == {"VDU1": 1, "VDU2": 4}
    with pytest.raises(InvalidPlanRequest, match="5 instances of VDU2"):
        scale(pkg, plan(pkg, "simple", "small"), "workers", 1)


@pytest.mark.parametrize(
    ("requirements", "repeated", "index"),
    [
        ("- virtual_binding: VDU1\n        - virtual_binding: VDU2", "virtual_binding", 1),
        (
            "- virtual_binding: VDU1\n        - virtual_link: VL1\n        - virtual_link: VL2",
            "virtual_link",
            2,
        ),
    ],
)
def test_a_requirement_sol001_allows_once_is_refused_when_repeated(
    tmp_path: Path, requirements: str, repeated: str, index: int
) -> None:
    text = VNFD.replace("- virtual_binding: VDU1\n        - virtual_link: VL1", requirements)
    line = line_of(text, f"- {repeated}: VDU2" if index == 1 else "- virtual_link: VL2")
    assert refusal(tmp_path, text) == [
        f"{AT}:{line}: {NODES}.CP1.requirements[{index}].{repeated}: "
        f"requirement {repeated} is given 2 times; SOL001 allows it once"
    ]


def test_a_vendor_type_cannot_widen_what_sol001_allows_once(tmp_path: Path) -> None:
    vendor = (
        "node_types:\n"
        "  example.Cp:\n"
        "    derived_from: tosca.nodes.nfv.VduCp\n"
        "    requirements:\n"
        "      - virtual_link:\n"
        "          capability: tosca.capabilities.nfv.VirtualLinkable\n"
        "          occurrences: [ 0, 2 ]\n"
        "topology_template:\n"
    )
    text = (
        VNFD.replace("topology_template:\n", vendor, 1)
        .replace("type: tosca.nodes.nfv.VduCp", "type: example.Cp")
        .replace("- virtual_link: VL1", "- virtual_link: VL1\n        - virtual_link: VL2")
    )
    (problem,) = refusal(tmp_path, text)
    assert problem.endswith(
        "CP1.requirements[2].virtual_link: requirement virtual_link is given 2 times; "
        "SOL001 allows it once"
    )


def test_an_external_cp_joins_one_internal_link(tmp_path: Path) -> None:
    ext = (
        "    EXT1:\n"
        "      type: tosca.nodes.nfv.VnfExtCp\n"
        "      properties:\n"
        "        layer_protocols: [ ipv4 ]\n"
        "      requirements:\n"
        "        - internal_virtual_link: VL1\n"
        "        - internal_virtual_link: VL2\n"
        "    VL1:\n"
    )
    text = VNFD.replace("    VL1:\n", ext, 1)
    line = line_of(text, "- internal_virtual_link: VL2")
    assert refusal(tmp_path, text) == [
        f"{AT}:{line}: {NODES}.EXT1.requirements[1].internal_virtual_link: "
        "requirement internal_virtual_link is given 2 times; SOL001 allows it once"
    ]


def test_a_plan_past_the_planner_ceiling_is_refused_before_it_is_built(tmp_path: Path) -> None:
    """SOL001 caps no ``max_number_of_instances``: a package allowing billions onboards, and
    asking for them is refused by its count, never by building the plan (which would take
    the hub's memory)."""
    huge = VNFD.replace("max_number_of_instances: 3", "max_number_of_instances: 9000000000000")
    huge = huge.replace("max_number_of_instances: 4", "max_number_of_instances: 9000000000000")
    huge = huge.replace("max_scale_level: 4", "max_scale_level: 9000000000000")
    huge = huge.replace(
        """            delta_1:
              number_of_instances: 1""",
        """            delta_1:
              number_of_instances: 1000000""",
    )
    pkg = load(tmp_path, huge)
    assert dict(plan(pkg, "simple").vdu_counts) == {"VDU1": 1, "VDU2": 1}
    with pytest.raises(InvalidPlanRequest) as refused:
        plan(pkg, "simple", "small", {"workers": 4000000})
    assert [str(p) for p in refused.value.problems] == [
        "vdu: 8000000000002 VDU instances asked for in one VNF instance, more than the "
        f"{MAX_PLANNED_INSTANCES} one plan may hold"
    ]
