"""Request bodies are parsed into specs or refused with problems; nothing else ever escapes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.site_agent import specs

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "name",
    "flavor",
    "image",
    "networks",
    "volumes",
    "ssh_keys",
    "user_data",
    "restart_policy",
    "power",
    "kernel",
    "ramdisk",
    "kernel_cmdline",
    "segment_type",
    "physical_network",
    "vlan_id",
    "mtu",
    "network",
    "cidr",
    "gateway",
    "allocation_pools",
    "dns_nameservers",
    "size_gb",
    "vcpus",
    "ram_mb",
]
bodies = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8) | json_values

PARSERS: list[Any] = [
    lambda b: specs.parse_server(b, "on-failure"),
    lambda b: specs.parse_network(b, "net-1"),
    lambda b: specs.parse_subnet(b, "sub-1"),
    specs.parse_volume,
    specs.parse_flavor,
]


@settings(max_examples=300, deadline=None)
@given(body=bodies, which=st.integers(0, len(PARSERS) - 1))
def test_any_body_gives_a_spec_or_problems(body: Any, which: int) -> None:
    try:
        spec = PARSERS[which](body)
    except InvalidInput as exc:
        assert exc.problems, "a refusal says what is wrong and where"
        assert all(p.where.startswith("body") for p in exc.problems)
    else:
        assert isinstance(spec, dict)


def test_a_good_server_body_is_normalized() -> None:
    spec = specs.parse_server(
        {
            "name": "web-1",
            "flavor": "small",
            "image": "cirros",
            "networks": ["lan", {"network": "wan", "fixed_ip": "10.0.0.9"}],
        },
        "always",
    )
    assert spec["nics"] == [
        {"network": "lan", "fixed_ip": None, "vnic_type": "normal"},
        {"network": "wan", "fixed_ip": "10.0.0.9", "vnic_type": "normal"},
    ]
    assert spec["restart_policy"] == "always" and spec["power"] == "running"


def test_vlan_network_needs_a_physical_network_and_an_id() -> None:
    try:
        specs.parse_network({"name": "v", "segment_type": "vlan"}, "n1")
    except InvalidInput as exc:
        assert {p.where for p in exc.problems} == {"body.vlan_id", "body.physical_network"}
    else:
        raise AssertionError("a vlan network without id and physnet was accepted")
