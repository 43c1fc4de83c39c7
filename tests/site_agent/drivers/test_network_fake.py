"""The fake network driver keeps the contract its docstring states (the core relies on it)."""

from __future__ import annotations

import pytest

from atoll.site_agent.drivers.network.base import (
    FixedIp,
    NetworkDriver,
    NetworkSpec,
    PortSpec,
    SubnetSpec,
    device_name,
)
from atoll.site_agent.drivers.network.errors import (
    NetworkNotFound,
    NetworkSpecInvalid,
    NetworkUnavailable,
    VfExhausted,
)
from atoll.site_agent.drivers.network.fake import FakeNetwork

NET = NetworkSpec(
    id="net-1",
    name="blue",
    segment_type="vlan",
    vlan_id=100,
    physical_network="physnet1",
    subnets=(SubnetSpec(id="sub-1", cidr="10.0.0.0/24", gateway="10.0.0.1"),),
)
PORT = PortSpec(
    id="7c0f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    network_id="net-1",
    mac="fa:16:3e:00:00:01",
    server_id="srv-1",
    fixed_ips=(FixedIp("sub-1", "10.0.0.2"),),
)


async def started() -> FakeNetwork:
    fake = FakeNetwork(physical_networks={"physnet1": "eth1"}, sriov_vfs={"physnet1": 1})
    driver: NetworkDriver = fake  # the fake satisfies the Protocol (checked by mypy)
    await driver.start()
    return fake


async def test_plug_is_idempotent_and_unplug_forgets() -> None:
    fake = await started()
    await fake.ensure_network(NET)
    await fake.ensure_network(NET)
    first = await fake.plug_port(NET, PORT)
    assert first == await fake.plug_port(NET, PORT)
    assert first.tap_name == device_name(PORT.id) == "at-7c0f1a2b3c4d"
    assert first.vlan == 100
    owned = await fake.list_ports()
    assert [(p.port_id, p.server_id, p.device) for p in owned] == [
        (PORT.id, "srv-1", "at-7c0f1a2b3c4d")
    ]
    fake.count(PORT.id, packets=3)
    assert (await fake.port_stats())[0].rx_packets == 3
    await fake.unplug_port(PORT.id)
    await fake.unplug_port(PORT.id)
    assert await fake.list_ports() == []


async def test_errors_the_core_must_handle() -> None:
    fake = await started()
    with pytest.raises(NetworkNotFound):
        await fake.plug_port(NET, PORT)
    with pytest.raises(NetworkSpecInvalid) as err:
        await fake.ensure_network(NetworkSpec(id="n", name="n", segment_type="vlan"))
    assert "vlan_id" in str(err.value) and "physical_network" in str(err.value)
    with pytest.raises(NetworkSpecInvalid, match="physnet9"):
        await fake.ensure_network(NetworkSpec(id="n", name="n", physical_network="physnet9"))
    fake.fail("ensure_network", NetworkUnavailable("ovsdb down", delay=2.0))
    with pytest.raises(NetworkUnavailable):
        await fake.ensure_network(NET)
    await fake.ensure_network(NET)  # the failure was one-shot
    assert await fake.list_networks() == ["net-1"]


async def test_direct_ports_take_a_vf_until_none_is_left() -> None:
    fake = await started()
    await fake.ensure_network(NET)
    direct = PortSpec(id="d1", network_id="net-1", mac="fa:16:3e:00:00:02", vnic_type="direct")
    binding = await fake.plug_port(NET, direct)
    assert binding.pci_address and binding.vlan == 100 and binding.tap_name is None
    other = PortSpec(id="d2", network_id="net-1", mac="fa:16:3e:00:00:03", vnic_type="direct")
    with pytest.raises(VfExhausted, match="physnet1"):
        await fake.plug_port(NET, other)
    await fake.unplug_port("d1")
    assert (await fake.plug_port(NET, other)).pci_address == binding.pci_address


async def test_calls_before_start_are_refused() -> None:
    with pytest.raises(NetworkUnavailable):
        await FakeNetwork().list_ports()


async def test_sweep_removes_only_strays_not_kept() -> None:
    fake = await started()
    a, b = fake.strand("port-a"), fake.strand("port-b")
    assert await fake.sweep_devices(keep=["port-b"]) == [a]
    assert await fake.sweep_devices(keep=[]) == [b]


async def test_prepare_makes_the_device_plug_wires_it() -> None:
    """A prepared port has its device and the binding the plug gives, but is wired to
    nothing: not listed, a stray device until the plug (or a sweep, or an unplug)."""
    fake = await started()
    with pytest.raises(NetworkNotFound):
        await fake.prepare_port(NET, PORT)
    await fake.ensure_network(NET)
    prepared = await fake.prepare_port(NET, PORT)
    assert prepared == await fake.prepare_port(NET, PORT)
    assert await fake.list_ports() == [] and fake.stray == {prepared.tap_name: PORT.id}
    assert await fake.plug_port(NET, PORT) == prepared
    assert [p.port_id for p in await fake.list_ports()] == [PORT.id] and fake.stray == {}
    assert await fake.prepare_port(NET, PORT) == prepared  # a plugged port is left as it is
    assert fake.stray == {} and [p.port_id for p in await fake.list_ports()] == [PORT.id]
    other = PortSpec(id="p2", network_id="net-1", mac="fa:16:3e:00:00:04")
    await fake.prepare_port(NET, other)
    await fake.unplug_port("p2")
    assert fake.stray == {}
    direct = PortSpec(id="d1", network_id="net-1", mac="fa:16:3e:00:00:02", vnic_type="direct")
    vf = await fake.prepare_port(NET, direct)  # a VF is all a direct port's plug does
    assert vf.pci_address and vf == await fake.plug_port(NET, direct)
