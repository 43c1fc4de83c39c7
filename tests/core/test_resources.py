"""The typed model (atoll.resources): round trips, unknown fields kept, old payloads load.

Valid payloads are generated from each model's own annotations and bounds (so a new field
is covered without touching this file), then filtered through the model's cross-field rules.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

import jsonschema_rs
import msgpack
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.resources import (
    FACTS,
    MAX_MESSAGE,
    SPECS,
    Desired,
    Event,
    Meta,
    Model,
    Observed,
    ServerSpec,
    clip,
    versions,
)
from atoll.resources.fields import Bounds, decode, schema, wire_name

HEX32 = st.from_regex(r"[0-9a-f]{32}", fullmatch=True)
TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)


def wire(hint: Any, bounds: Bounds | None = None) -> st.SearchStrategy[Any]:
    """Plain wire values the annotation ``hint`` (with ``bounds``) should accept."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        inner = next(a for a in args if a is not type(None))
        return st.none() | wire(inner, bounds)
    if origin is Literal:
        return st.sampled_from(args)
    high = int(bounds.high) if bounds and bounds.high is not None else None
    low = int(bounds.low) if bounds and bounds.low is not None else None
    if origin is tuple:
        return st.lists(wire(args[0]), max_size=min(high or 3, 3))
    if origin is not None and issubclass(origin, typing.Mapping):
        keys = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
        return st.dictionaries(keys, wire(args[1]), max_size=3)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return model_wire(hint)
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(min_value=low if low is not None else -(2**31), max_value=high or 2**31)
    if hint is float:
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False)
    if hint is str:
        if bounds and bounds.pattern:
            return st.from_regex(bounds.pattern, fullmatch=True)
        return st.text(
            st.characters(min_codepoint=0x20, max_codepoint=0x7E),
            min_size=low or 0,
            max_size=min(high or 12, 12),
        )
    raise AssertionError(f"no strategy for {hint!r}")


def model_wire(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        strategy = wire(hints[f.name], f.metadata.get("bounds"))
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        (required if no_default else optional)[f.name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


def desired_wire() -> st.SearchStrategy[dict[str, Any]]:
    def build(kind: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {
                "kind": st.just(kind),
                "meta": model_wire(Meta),
                "spec": model_wire(SPECS[kind]),
                "origin": st.sampled_from(["hub", "site"]),
                "hub_revision": st.none() | st.integers(0, 2**40),
                "v": st.just(versions.CURRENT),
            }
        )

    return st.sampled_from(sorted(SPECS)).flatmap(build)


FAST = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)


@FAST
@given(desired_wire())
def test_every_desired_object_round_trips_through_wire_and_msgpack(payload: dict[str, Any]) -> None:
    try:
        obj = Desired.from_wire(payload)
    except InvalidInput:  # cross-field rules (a vlan needs a VLAN id...) refuse some
        assume(False)
        raise
    again = Desired.from_wire(msgpack.unpackb(msgpack.packb(obj.to_wire())))
    assert again == obj
    assert again.to_wire() == obj.to_wire()


@FAST
@given(
    st.sampled_from(sorted(FACTS)).flatmap(
        lambda kind: st.fixed_dictionaries(
            {
                "kind": st.just(kind),
                "id": HEX32,
                "seq": st.integers(0, 2**62),
                "state": st.sampled_from(["ACTIVE", "BUILDING", "ERROR", "SHUTOFF"]),
                "message": TEXT,
                "facts": model_wire(FACTS[kind]),
            }
        )
    )
)
def test_every_observed_status_round_trips(payload: dict[str, Any]) -> None:
    obj = Observed.from_wire(payload)
    assert Observed.from_wire(msgpack.unpackb(msgpack.packb(obj.to_wire()))) == obj


@FAST
@given(
    desired_wire(),
    st.dictionaries(st.from_regex(r"zz[a-z]{1,6}", fullmatch=True), TEXT, min_size=1),
)
def test_fields_from_a_newer_peer_are_kept_and_passed_back(
    payload: dict[str, Any], unknown: dict[str, str]
) -> None:
    newer = {**payload, **unknown, "v": versions.CURRENT + 1}
    newer["spec"] = {**payload["spec"], **unknown}
    try:
        obj = Desired.from_wire(newer)
    except InvalidInput:
        assume(False)
        raise
    out = obj.to_wire()
    for key, value in unknown.items():
        assert out[key] == value
        assert out["spec"][key] == value
    with pytest.raises(InvalidInput) as refused:  # a person's request: unknown is an error
        Desired.from_wire(newer, strict=True)
    assert any(p.where.startswith("spec.zz") for p in refused.value.problems)


# What the site agent stored before the typed model (model version 1), one of each kind.
V1_PAYLOADS: dict[str, dict[str, Any]] = {
    "server": {
        "name": "web1", "flavor": "small", "image": "cirros", "kernel": None, "ramdisk": None,
        "kernel_cmdline": "console=ttyS0", "restart_policy": "on-failure", "power": "running",
        "nics": [{"network": "net1", "fixed_ip": "10.0.0.5", "vnic_type": "normal"}],
        "volumes": [], "ssh_keys": ["ssh-ed25519 AAAA"], "user_data": "#!/bin/sh\necho hi\n",
        "reboots": 1, "image_pinned": True, "ports": ["9f1c"], "rebuilds": 0,
        "vcpus": 1, "ram_mb": 256,
    },
    "port": {"id": "9f1c", "server": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
             "network": "net-id", "index": 0, "mac": "fa:16:3e:00:00:01",
             "subnet": "sub-id", "ip": "10.0.0.5", "vnic_type": "normal"},
    "network": {"name": "net1", "segment_type": "vlan", "physical_network": "physnet1",
                "vlan_id": 100, "mtu": 1500},
    "subnet": {"name": None, "network": "net1", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1",
               "allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.99"}],
               "dns_nameservers": []},
    "volume": {"name": "data", "size_gb": 2, "server": None, "snapshots": ["data-snap1"]},
    "flavor": {"name": "small", "vcpus": 1, "ram_mb": 256},
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(V1_PAYLOADS))
def test_a_payload_from_the_previous_model_version_loads(kind: str) -> None:
    legacy = {"v": 1, "kind": kind, "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}
    legacy["spec"] = dict(V1_PAYLOADS[kind])
    obj = Desired.from_wire(legacy)
    assert obj.meta.id == legacy["id"]
    assert obj.meta.name == V1_PAYLOADS[kind].get("name")
    assert obj.origin == "site" and obj.hub_revision is None
    assert obj.to_wire()["v"] == versions.CURRENT
    for key, value in V1_PAYLOADS[kind].items():  # nothing the old site kept is lost
        if key != "name":
            assert obj.to_wire()["spec"][key] == value, key


def test_a_payload_older_than_accepted_is_refused_with_the_range() -> None:
    with pytest.raises(InvalidInput) as refused:
        Desired.from_wire({"v": 0, "kind": "volume", "id": "x", "spec": {}})
    assert "accepts versions 1 to" in str(refused.value.problems[0])


def test_every_problem_is_reported_with_its_path() -> None:
    body = {
        "kind": "server",
        "origin": "hub",
        "meta": {"id": "nope", "name": "-x", "labels": {"Bad Key": "v"}},
        "spec": {"flavor": "", "nics": [{"network": "n", "fixed_ip": "1.2.3"}], "power": "on"},
    }
    with pytest.raises(InvalidInput) as refused:
        Desired.from_wire(body)
    where = {p.where for p in refused.value.problems}
    # field problems everywhere at once; rules between fields wait until the fields are sound
    assert where == {"meta.id", "meta.name", "spec.flavor", "spec.nics[0].fixed_ip", "spec.power"}
    with pytest.raises(InvalidInput) as labels:
        Meta.from_wire({"id": "0" * 32, "labels": {"Bad Key": "v"}})
    assert [p.where for p in labels.value.problems] == ["labels.Bad Key"]


def test_control_characters_are_refused_except_in_user_data() -> None:
    ok = ServerSpec.from_wire({"flavor": "f", "image": "i", "user_data": "a\n\tb\r\n"})
    assert ok.user_data == "a\n\tb\r\n"
    for bad in ("\x1b[31mred", "bell\x07", "csi\u009b"):
        with pytest.raises(InvalidInput):
            ServerSpec.from_wire({"flavor": bad, "image": "i"})
    for bad in ("\x1b", "\x00"):  # user data keeps tabs and line breaks, not escapes
        with pytest.raises(InvalidInput, match="control characters"):
            ServerSpec.from_wire({"flavor": "f", "image": "i", "user_data": bad})


def test_a_lone_surrogate_is_refused_in_any_text() -> None:
    """No UTF-8 holds one: a spec carrying one could be stored but never sent to a site."""
    for spec in (
        {"flavor": "\ud800", "image": "i"},
        {"flavor": "f", "image": "i", "user_data": "a\udfff"},
    ):
        with pytest.raises(InvalidInput, match="lone surrogate"):
            ServerSpec.from_wire(spec)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_garbage_is_refused_never_crashes(garbage: object) -> None:
    for load in (Desired.from_wire, Observed.from_wire):
        try:
            obj: Model = load(garbage)
        except InvalidInput as exc:
            assert exc.problems
        else:
            assert obj.to_wire()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sol(Model):
    WIRE_CASE = "camel"
    OMIT_NONE = True
    vnf_instance_id: str
    grant_id: str | None = None
    links: typing.Mapping[str, str] = dataclasses.field(
        default_factory=dict, metadata=wire_name("_links")
    )


def test_camel_case_models_name_wire_keys_and_leave_out_unset_attributes() -> None:
    value = Sol.from_wire({"vnfInstanceId": "i", "_links": {"self": "/i"}})
    assert value.vnf_instance_id == "i" and value.links == {"self": "/i"}
    assert value.to_wire() == {"vnfInstanceId": "i", "_links": {"self": "/i"}}
    with pytest.raises(InvalidInput) as caught:
        Sol.from_wire({"vnf_instance_id": "i"}, where="body", strict=True)
    assert [str(p) for p in caught.value.problems] == [
        "body.vnfInstanceId: is required",
        "body.vnf_instance_id: unknown field; known: _links, grantId, vnfInstanceId",
    ]


@FAST
@given(
    st.sampled_from(sorted(SPECS)).flatmap(lambda k: st.tuples(st.just(k), model_wire(SPECS[k])))
)
def test_a_spec_the_decoder_takes_is_valid_by_the_schema_documents_show(
    case: tuple[str, dict[str, Any]],
) -> None:
    """The JSON Schema the APIs' OpenAPI documents carry (``fields.schema``) is no stricter
    than the strict decoder: what decodes field by field is valid by it."""
    kind, payload = case
    value, _ = decode(SPECS[kind], payload, "", True)
    assume(value is not None)  # rules between fields (Model.problems) are beyond a schema
    validator = jsonschema_rs.validator_for(schema(SPECS[kind]))
    assert validator.is_valid(payload), list(validator.iter_errors(payload))[:3]


def test_the_schema_refuses_what_the_strict_decoder_refuses_by_type_and_key() -> None:
    validator = jsonschema_rs.validator_for(schema(ServerSpec))
    good = {"flavor": "small", "image": "cirros", "nics": [{"network": "lan"}]}
    assert validator.is_valid(good)
    for bad in (
        {**good, "bogus": 1},
        {**good, "nics": [{"network": "lan", "vnic_type": "fast"}]},
        {**good, "nics": [{}]},
        {"image": "cirros"},
        {**good, "reboots": -1},
    ):
        assert not validator.is_valid(bad), bad
        assert ServerSpec.check(bad, strict=True), bad


def test_a_bounded_number_that_is_not_a_number_is_out_of_bounds() -> None:
    """msgpack (and a lenient JSON reader) carries NaN, which compares false with anything:
    it used to pass every bound."""
    for at in (math.nan, math.inf, -1.0, 1e12):
        with pytest.raises(InvalidInput) as exc:
            Event.from_wire({"kind": "server", "id": "d" * 32, "reason": "error", "at": at})
        assert [p.where for p in exc.value.problems] == ["at"]


def test_a_message_is_clipped_to_what_a_fact_may_say() -> None:
    said = clip("\x1b[31m" + "é" * 10_000)
    assert len(said) == MAX_MESSAGE and said.startswith("\\x1b[31m") and said.endswith("…")
    event = {"kind": "server", "id": "d" * 32, "reason": "error", "message": said, "at": 1.0}
    assert Event.from_wire(event).message == said
    assert clip("no disk\n\tat line 3") == "no disk\n\tat line 3"  # tabs and lines stay
