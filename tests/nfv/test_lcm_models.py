"""The SOL003 request and resource shapes: camelCase on the wire, every problem with its path."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.nfv.lcm.instance import InstantiatedVnfInfo, VnfInstance
from atoll.nfv.lcm.requests import (
    ChangeCurrentVnfPkgRequest,
    CreateVnfRequest,
    HealVnfRequest,
    InstantiateVnfRequest,
    LcmOptions,
    ScaleVnfRequest,
    ScaleVnfToLevelRequest,
    TerminateVnfRequest,
    external_networks,
    lcm_options,
    network_for,
)
from atoll.resources.model import Model

# Bodies as Tacker's v2 API and python-tackerclient send them.
INSTANTIATE = {
    "flavourId": "simple",
    "instantiationLevelId": "instantiation_level_1",
    "extVirtualLinks": [
        {
            "id": "net0",
            "vimConnectionId": "site-a",
            "resourceId": "lan",
            "extCps": [{"cpdId": "VDU1_CP1", "cpConfig": {"VDU1_CP1_1": {"cpProtocolData": []}}}],
        },
        {"id": "net1", "resourceId": "provider", "extCps": [{"cpdId": "VDU1_CP1"}]},
    ],
    "additionalParams": {"placement": {"vduSites": {"VDU1": ["site-a", "site-b"]}}},
}


def problems_of(cls: type[Model], body: object) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        cls.from_wire(body, where="body", strict=True)
    assert caught.value.http_status == 400
    return [str(p) for p in caught.value.problems]


def test_instantiate_request_round_trips_in_camel_case() -> None:
    request = InstantiateVnfRequest.from_wire(INSTANTIATE, where="body", strict=True)
    assert request.flavour_id == "simple"
    assert request.ext_virtual_links[0].vim_connection_id == "site-a"
    assert request.placement().vdu_sites["VDU1"] == ("site-a", "site-b")
    wire = request.to_wire()
    assert wire["flavourId"] == "simple" and "vimConnectionInfo" not in wire
    assert InstantiateVnfRequest.from_wire(wire) == request


def test_external_networks_per_site() -> None:
    request = InstantiateVnfRequest.from_wire(INSTANTIATE)
    networks = external_networks(request.ext_virtual_links)
    assert network_for(networks, "VDU1_CP1", "site-a") == "lan"
    assert network_for(networks, "VDU1_CP1", "site-b") == "provider"  # the any-site entry
    with pytest.raises(InvalidInput, match="no entry connects CP 'VDU9_CP1' at site site-a"):
        network_for(networks, "VDU9_CP1", "site-a")


@pytest.mark.parametrize(
    ("cls", "body", "expected"),
    [
        (CreateVnfRequest, {}, ["body.vnfdId: is required"]),
        (CreateVnfRequest, {"vnfdId": "x", "vnfdid": "y"}, ["body.vnfdid: unknown field"]),
        (
            InstantiateVnfRequest,
            {"flavourId": "f", "extVirtualLinks": [{"id": "e", "extCps": []}]},
            [
                "body.extVirtualLinks[0].resourceId: is required",
                "body.extVirtualLinks[0].extCps: must not be empty",
            ],
        ),
        (
            InstantiateVnfRequest,
            {
                "flavourId": "f",
                "extVirtualLinks": [
                    {"id": "e", "resourceId": "n", "extCps": [{"cpdId": "c"}, {"cpdId": "c"}]}
                ],
            },
            ["body.extVirtualLinks[0].extCps[1].cpdId: 'c' is already connected"],
        ),
        (
            InstantiateVnfRequest,
            {"flavourId": "f", "additionalParams": {"placement": {"sites": "a", "zone": 1}}},
            [
                "body.additionalParams.placement.sites: must be a list",
                "body.additionalParams.placement.zone: unknown field",
            ],
        ),
        (
            ScaleVnfRequest,
            {"type": "SCALE_UP", "aspectId": "a"},
            ["body.type: must be one of SCALE_OUT, SCALE_IN"],
        ),
        (
            ScaleVnfRequest,
            {"type": "SCALE_IN", "aspectId": "a", "numberOfSteps": 0},
            ["body.numberOfSteps: must be in 1..1000"],
        ),
        (ScaleVnfToLevelRequest, {}, ["body.instantiationLevelId: give exactly one"]),
        (
            ScaleVnfToLevelRequest,
            {"instantiationLevelId": "l", "scaleInfo": [{"aspectId": "a", "scaleLevel": 1}]},
            ["body.instantiationLevelId: give exactly one"],
        ),
        (
            ScaleVnfToLevelRequest,
            {"scaleInfo": [{"aspectId": "a", "scaleLevel": -1}]},
            ["body.scaleInfo[0].scaleLevel: must be in 0.."],
        ),
        (HealVnfRequest, {"vnfcInstanceId": "VDU1-0"}, ["body.vnfcInstanceId: must be a list"]),
        (
            TerminateVnfRequest,
            {"terminationType": "NOW"},
            ["body.terminationType: must be one of FORCEFUL, GRACEFUL"],
        ),
        (
            TerminateVnfRequest,
            {"terminationType": "FORCEFUL", "gracefulTerminationTimeout": 10},
            ["body.gracefulTerminationTimeout: only a GRACEFUL termination takes a timeout"],
        ),
        (ChangeCurrentVnfPkgRequest, {"vnfdId": 3}, ["body.vnfdId: must be a string"]),
    ],
)
def test_every_problem_is_named_by_its_wire_path(
    cls: type[Model], body: dict[str, Any], expected: list[str]
) -> None:
    found = problems_of(cls, body)
    assert len(found) == len(expected), found
    for text, want in zip(found, expected, strict=True):
        assert text.startswith(want), found


def test_requests_that_load() -> None:
    assert ScaleVnfRequest.from_wire({"type": "SCALE_OUT", "aspectId": "a"}).number_of_steps == 1
    assert HealVnfRequest.from_wire({}).vnfc_instance_id is None
    graceful = TerminateVnfRequest.from_wire(
        {"terminationType": "GRACEFUL", "gracefulTerminationTimeout": 30}
    )
    assert graceful.graceful_termination_timeout == 30
    level = ScaleVnfToLevelRequest.from_wire({"scaleInfo": [{"aspectId": "a", "scaleLevel": 2}]})
    assert level.scale_info is not None and level.scale_info[0].scale_level == 2


def test_a_vnf_instance_keeps_tackers_shape() -> None:
    wire = {
        "id": "i",
        "vnfdId": "d",
        "vnfProvider": "Company",
        "vnfProductName": "Sample",
        "vnfSoftwareVersion": "1.0",
        "vnfdVersion": "1.0",
        "instantiationState": "INSTANTIATED",
        "instantiatedVnfInfo": {
            "flavourId": "simple",
            "vnfState": "STARTED",
            "scaleStatus": [{"aspectId": "VDU1_scale", "scaleLevel": 1}],
            "extCpInfo": [{"id": "cp", "cpdId": "VDU1_CP1"}],
            "vnfcResourceInfo": [
                {
                    "id": "VDU1-0",
                    "vduId": "VDU1",
                    "computeResource": {"vimConnectionId": "site-a", "resourceId": "srv"},
                }
            ],
        },
        "_links": {"self": {"href": "/vnflcm/v2/vnf_instances/i"}},
        "vendorExtension": {"kept": True},
    }
    instance = VnfInstance.from_wire(wire)
    assert isinstance(instance.instantiated_vnf_info, InstantiatedVnfInfo)
    vnfc = instance.instantiated_vnf_info.vnfc("VDU1-0")
    assert vnfc is not None and vnfc.compute_resource.vim_connection_id == "site-a"
    assert instance.links["self"].href.endswith("/i")
    assert instance.to_wire() == wire  # unknown attributes are carried, _links keeps its name


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC_", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"flavourId": NAMES},
        optional={
            "instantiationLevelId": NAMES,
            "extVirtualLinks": st.lists(
                st.fixed_dictionaries(
                    {
                        "id": NAMES,
                        "resourceId": NAMES,
                        "extCps": st.lists(
                            st.fixed_dictionaries({"cpdId": NAMES}), min_size=1, max_size=3
                        ),
                    },
                    optional={"vimConnectionId": NAMES},
                ),
                max_size=3,
            ),
            "additionalParams": st.dictionaries(NAMES, st.integers() | NAMES, max_size=3),
        },
    )
)
def test_instantiate_requests_load_or_say_why(body: dict[str, Any]) -> None:
    try:
        request = InstantiateVnfRequest.from_wire(body, where="body", strict=True)
    except InvalidInput as exc:
        assert exc.problems and all(p.where.startswith("body") for p in exc.problems)
        return
    assert InstantiateVnfRequest.from_wire(request.to_wire(), strict=True) == request


def test_the_engines_options_are_read_from_additional_params_of_any_task() -> None:
    params = {"maxParallel": 2, "siteTimeout": 30, "stopOnFailure": True, "vnf": "own"}
    for cls, body in (
        (InstantiateVnfRequest, {"flavourId": "f"}),
        (ScaleVnfRequest, {"type": "SCALE_IN", "aspectId": "a"}),
        (HealVnfRequest, {}),
        (TerminateVnfRequest, {"terminationType": "FORCEFUL"}),
        (ChangeCurrentVnfPkgRequest, {"vnfdId": "d"}),
    ):
        request = cls.from_wire({**body, "additionalParams": params}, where="body", strict=True)
        assert lcm_options(request) == LcmOptions(
            max_parallel=2, site_timeout=30.0, stop_on_failure=True
        )
        assert lcm_options(cls.from_wire(body)) == LcmOptions()  # the hub's settings
        bad = {**body, "additionalParams": {"maxParallel": True, "siteTimeout": float("inf")}}
        assert problems_of(cls, bad) == [
            "body.additionalParams.maxParallel: must be an integer",
            "body.additionalParams.siteTimeout: must be in 1..86400",
        ]
