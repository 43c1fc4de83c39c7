"""Request bodies are parsed by the typed model into specs, or refused with problems; nothing
else ever escapes."""

from __future__ import annotations

import ipaddress
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
    "nics",
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
    specs.SERVER.parse,
    specs.NETWORK.parse,
    lambda b: specs.SUBNET.parse(b, specs.subnet_defaults(b)),
    specs.VOLUME.parse,
    specs.FLAVOR.parse,
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
        name, model = spec
        assert name is None or isinstance(name, str)
        assert type(model).from_wire(model.to_wire(), strict=True) == model


def test_a_good_server_body_is_normalized() -> None:
    name, model = specs.SERVER.parse(
        {
            "name": "web-1",
            "flavor": "small",
            "image": "cirros",
            "nics": [{"network": "lan"}, {"network": "wan", "fixed_ip": "10.0.0.9"}],
        },
        {"restart_policy": "always"},
    )
    spec = model.to_wire()
    assert name == "web-1"
    assert spec["nics"] == [
        {"network": "lan", "fixed_ip": None, "vnic_type": "normal"},
        {"network": "wan", "fixed_ip": "10.0.0.9", "vnic_type": "normal"},
    ]
    assert spec["restart_policy"] == "always" and spec["power"] == "running"


def test_vlan_network_needs_a_physical_network_and_an_id() -> None:
    try:
        specs.NETWORK.parse({"name": "v", "segment_type": "vlan"})
    except InvalidInput as exc:
        assert {p.where for p in exc.problems} == {"body.vlan_id"}
    else:
        raise AssertionError("a vlan network without id was accepted")
    name, spec = specs.NETWORK.parse({"name": "v", "segment_type": "vlan", "vlan_id": 7})
    problems = specs.network_problems("n1", name, spec)
    assert {p.where for p in problems} == {"body.physical_network"}


def test_what_the_site_fills_in_is_refused_in_a_request() -> None:
    body = {"name": "web-1", "flavor": "small", "image": "cirros", "ports": ["p"], "vcpus": 64}
    try:
        specs.SERVER.parse(body)
    except InvalidInput as exc:
        assert {p.where for p in exc.problems} == {"body.ports", "body.vcpus"}
    else:
        raise AssertionError("a request set the server's ports and size")


def subnet_problems(body: dict[str, Any]) -> dict[str, str]:
    try:
        full = {"network": "lan", **body}
        specs.SUBNET.parse(full, specs.subnet_defaults(full))
    except InvalidInput as exc:
        return {p.where: p.what for p in exc.problems}
    return {}


@settings(max_examples=300, deadline=None)
@given(address=st.integers(0, 2**32 - 1), prefix=st.integers(0, 32))
def test_ipv4_subnet_rules(address: int, prefix: int) -> None:
    """Accepted exactly when /8../30 and clear of 0/8, 127/8, 169.254/16, 224/4 and 240/4."""
    net = ipaddress.IPv4Network((address, prefix), strict=False)
    ranges = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
    refused = [ipaddress.IPv4Network(c) for c in ranges]
    ok = 8 <= prefix <= 30 and not any(net.overlaps(r) for r in refused)
    problems = subnet_problems({"cidr": str(net)})
    assert (problems == {}) == ok, (net, problems)
    if not ok:
        assert set(problems) == {"body.cidr"}


@settings(max_examples=200, deadline=None)
@given(high=st.integers(0, 2**16 - 1), prefix=st.integers(0, 128))
def test_ipv6_subnet_rules(high: int, prefix: int) -> None:
    net = ipaddress.IPv6Network((high << 112, prefix), strict=False)
    refused = [ipaddress.IPv6Network(c) for c in ("::/8", "fe80::/10", "fec0::/10", "ff00::/8")]
    ok = 64 <= prefix <= 126 and not any(net.overlaps(r) for r in refused)
    assert (subnet_problems({"cidr": str(net)}) == {}) == ok, net


def test_gateway_and_pools_must_be_hosts_of_the_subnet() -> None:
    cidr = "10.0.0.0/24"
    assert (
        "network address" in subnet_problems({"cidr": cidr, "gateway": "10.0.0.0"})["body.gateway"]
    )
    assert "broadcast" in subnet_problems({"cidr": cidr, "gateway": "10.0.0.255"})["body.gateway"]
    pools = [{"start": "10.0.0.10", "end": "10.0.0.20"}, {"start": "10.0.0.15", "end": "10.0.0.30"}]
    assert (
        "overlaps allocation_pools[0]"
        in subnet_problems({"cidr": cidr, "allocation_pools": pools})["body.allocation_pools[1]"]
    )
    backwards = [{"start": "10.0.0.20", "end": "10.0.0.10"}]
    assert (
        "before it starts"
        in subnet_problems({"cidr": cidr, "allocation_pools": backwards})[
            "body.allocation_pools[0]"
        ]
    )
    assert subnet_problems({"cidr": "fd00::/64", "gateway": "fd00::"})  # router anycast
    assert subnet_problems({"cidr": cidr, "allocation_pools": pools[:1]}) == {}


def test_free_text_refuses_control_characters() -> None:
    for bad in ("\x1b[31m", "\x07", "\u009b", "a\x7f"):
        keys = [f"ssh-ed25519 {bad}"]
        body = {"name": "web-1", "flavor": bad, "image": "cirros", "ssh_keys": keys}
        try:
            specs.SERVER.parse(body)
        except InvalidInput as exc:
            assert {p.where for p in exc.problems} == {"body.flavor", "body.ssh_keys[0]"}
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_an_unknown_field_is_named_with_what_a_request_may_send() -> None:
    body = {"name": "a", "flavor": "x", "image": "y", "bogus": 1, "nics": [{"network": "n"}]}
    try:
        specs.SERVER.parse(body)
    except InvalidInput as exc:
        (problem,) = exc.problems
        assert problem.where == "body.bogus"
        assert "nics" in problem.what and "ports" not in problem.what
    else:
        raise AssertionError("an unknown field was accepted")
