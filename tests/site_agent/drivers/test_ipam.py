"""The agent's IPAM: what a user sees is "each port gets its own address, never a taken one"."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from atoll.site_agent.drivers.network.base import AllocationPool, FixedIp, SubnetSpec
from atoll.site_agent.drivers.network.errors import (
    AddressInUse,
    AddressOutOfRange,
    NetworkError,
    NetworkSpecInvalid,
    SubnetExhausted,
)
from atoll.site_agent.drivers.network.ipam import Ipam, SubnetIpam

SMALL = SubnetSpec(id="sub-a", cidr="10.0.0.0/29", gateway="10.0.0.1")


def test_lowest_free_address_skips_network_gateway_and_broadcast() -> None:
    ipam = SubnetIpam(SMALL)
    got = [ipam.allocate(f"p{i}") for i in range(5)]
    assert got == ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    assert ipam.free_count == 0


def test_exhaustion_names_the_subnet() -> None:
    ipam = SubnetIpam(SMALL)
    for i in range(5):
        ipam.allocate(f"p{i}")
    with pytest.raises(SubnetExhausted) as err:
        ipam.allocate("one-too-many")
    assert "sub-a" in str(err.value) and "10.0.0.0/29" in str(err.value)
    assert isinstance(err.value, NetworkError)
    assert err.value.http_status == 409


def test_requested_address_and_its_errors() -> None:
    ipam = SubnetIpam(SMALL)
    assert ipam.allocate("p1", "10.0.0.5") == "10.0.0.5"
    assert ipam.allocate("p1", "10.0.0.5") == "10.0.0.5"  # a replay is harmless
    with pytest.raises(AddressInUse, match="already allocated to p1"):
        ipam.allocate("p2", "10.0.0.5")
    for bad in ("10.0.0.1", "10.0.0.0", "10.0.0.7", "10.0.1.9", "banana"):
        with pytest.raises(AddressOutOfRange):
            ipam.allocate("p2", bad)
    assert ipam.allocate("p2") == "10.0.0.2"


def test_pools_limit_automatic_allocation_but_not_requests() -> None:
    subnet = SubnetSpec(
        id="s",
        cidr="192.168.5.0/24",
        gateway="192.168.5.1",
        allocation_pools=(AllocationPool("192.168.5.100", "192.168.5.101"),),
    )
    ipam = SubnetIpam(subnet)
    assert ipam.size == 2
    assert ipam.allocate("a") == "192.168.5.100"
    assert ipam.allocate("b", "192.168.5.20") == "192.168.5.20"
    assert ipam.allocate("c") == "192.168.5.101"
    with pytest.raises(SubnetExhausted):
        ipam.allocate("d")


def test_ipv6_subnet() -> None:
    ipam = SubnetIpam(SubnetSpec(id="v6", cidr="fd00:1::/125", gateway="fd00:1::1"))
    assert ipam.allocate("a") == "fd00:1::2"
    assert ipam.size == 6  # ::0 (router anycast) and the gateway are reserved


def test_bad_subnet_spec_lists_problems() -> None:
    with pytest.raises(NetworkSpecInvalid) as err:
        SubnetIpam(SubnetSpec(id="x", cidr="10.0.0.0/24", gateway="10.9.9.9"))
    assert "gateway" in str(err.value) and "outside 10.0.0.0/24" in str(err.value)


def test_port_allocation_is_all_or_nothing_and_state_round_trips() -> None:
    ipam = Ipam()
    ipam.ensure_subnet(SMALL)
    ipam.ensure_subnet(SubnetSpec(id="sub-b", cidr="10.1.0.0/30"))  # two hosts, no gateway
    first = ipam.allocate_port("port-1", ["sub-a", "sub-b"])
    assert first == (FixedIp("sub-a", "10.0.0.2"), FixedIp("sub-b", "10.1.0.1"))
    ipam.allocate_port("port-2", ["sub-b"])
    with pytest.raises(SubnetExhausted):
        ipam.allocate_port("port-3", ["sub-a", "sub-b"])
    assert ipam.subnet("sub-a").owner_of("10.0.0.3") is None  # rolled back
    text = json.dumps(ipam.to_dict())
    again = Ipam.from_dict(json.loads(text))
    assert again.to_dict() == ipam.to_dict()
    assert again.release_port("port-1") == list(first)
    assert again.allocate_port("port-3", ["sub-b"]) == (FixedIp("sub-b", "10.1.0.1"),)


class IpamMachine(RuleBasedStateMachine):
    """Random allocate/request/release/persist sequences against a model."""

    def __init__(self) -> None:
        super().__init__()
        self.subnet = SubnetSpec(
            id="m",
            cidr="10.9.0.0/28",
            gateway="10.9.0.14",
            allocation_pools=(AllocationPool("10.9.0.3", "10.9.0.9"),),
        )
        self.ipam = SubnetIpam(self.subnet)
        self.model: dict[str, str] = {}  # address -> owner
        self.net = ipaddress.ip_network(self.subnet.cidr)
        self.pool = {str(self.net[i]) for i in range(3, 10)}

    @rule(owner=st.sampled_from(["a", "b", "c", "d"]))
    def allocate(self, owner: str) -> None:
        free = self.pool - set(self.model)
        if not free:
            with pytest.raises(SubnetExhausted):
                self.ipam.allocate(owner)
            return
        got = self.ipam.allocate(owner)
        assert got == min(free, key=lambda a: int(ipaddress.ip_address(a)))
        self.model[got] = owner

    @rule(owner=st.sampled_from(["a", "b"]), host=st.integers(min_value=0, max_value=15))
    def request(self, owner: str, host: int) -> None:
        address = str(self.net[host])
        if host in (0, 14, 15):
            with pytest.raises(AddressOutOfRange):
                self.ipam.allocate(owner, address)
        elif address in self.model and self.model[address] != owner:
            with pytest.raises(AddressInUse):
                self.ipam.allocate(owner, address)
        else:
            assert self.ipam.allocate(owner, address) == address
            self.model[address] = owner

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        address = data.draw(st.sampled_from(sorted(self.model)))
        self.ipam.release(address)
        self.ipam.release(address)  # idempotent
        del self.model[address]

    @rule(owner=st.sampled_from(["a", "b", "c", "d"]))
    def release_owner(self, owner: str) -> None:
        gone = self.ipam.release_owner(owner)
        assert sorted(gone) == sorted(a for a, o in self.model.items() if o == owner)
        self.model = {a: o for a, o in self.model.items() if o != owner}

    @rule()
    def persist_and_reload(self) -> None:
        self.ipam = SubnetIpam.from_dict(json.loads(json.dumps(self.ipam.to_dict())))

    @invariant()
    def matches_model(self) -> None:
        assert self.ipam.allocations() == dict(
            sorted(self.model.items(), key=lambda kv: int(ipaddress.ip_address(kv[0])))
        )
        assert self.ipam.free_count == len(self.pool - set(self.model))


TestIpamMachine = IpamMachine.TestCase
TestIpamMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


@given(
    prefix=st.integers(min_value=22, max_value=30),
    count=st.integers(min_value=0, max_value=300),
)
@settings(max_examples=30, deadline=None)
def test_never_double_allocates(prefix: int, count: int) -> None:
    subnet = SubnetSpec(id="p", cidr=f"172.16.0.0/{prefix}", gateway="172.16.0.1")
    ipam = SubnetIpam(subnet)
    got: list[str] = []
    for i in range(count):
        try:
            got.append(ipam.allocate(f"o{i}"))
        except SubnetExhausted:
            assert len(got) == ipam.size
            break
    assert len(set(got)) == len(got)
    net = ipaddress.ip_network(subnet.cidr)
    assert all(ipaddress.ip_address(a) in net for a in got)
    assert not {"172.16.0.1", str(net.network_address), str(net.broadcast_address)} & set(got)


@given(
    v6=st.booleans(),
    prefix_from_top=st.integers(min_value=2, max_value=8),
    gateway=st.booleans(),
    asked=st.integers(min_value=0, max_value=255),
)
@settings(max_examples=60, deadline=None)
def test_never_hands_out_the_network_or_broadcast_address(
    v6: bool, prefix_from_top: int, gateway: bool, asked: int
) -> None:
    """The default pool is the whole range; the network (and IPv4 broadcast) address is cut
    out of it and refused when asked for by name."""
    prefix = (128 if v6 else 32) - prefix_from_top
    net = ipaddress.ip_network(f"fd00:9::/{prefix}" if v6 else f"10.9.0.0/{prefix}")
    ipam = SubnetIpam(SubnetSpec(id="n", cidr=str(net), gateway=str(net[1]) if gateway else None))
    reserved = {str(net.network_address)} | (set() if v6 else {str(net.broadcast_address)})
    got: set[str] = set()
    while True:
        try:
            got.add(ipam.allocate(f"o{len(got)}"))
        except SubnetExhausted:
            break
    assert not got & reserved and len(got) == ipam.size
    address = str(net[asked % net.num_addresses])
    if address in reserved:
        with pytest.raises(AddressOutOfRange):
            ipam.allocate("x", address)
