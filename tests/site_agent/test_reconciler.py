"""The reconciler against the drivers' fakes: build, delete, rollback, restart policy, events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atoll.site_agent.drivers.compute.base import DomainState
from atoll.site_agent.drivers.network.errors import NetworkFailure, NetworkUnavailable
from tests.site_agent.site_harness import Site, lan, make_site


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await make_site(tmp_path)
    try:
        yield s
    finally:
        await s.close()


async def _server(site: Site, name: str = "vm1", **extra: object) -> str:
    body = {
        "name": name,
        "flavor": "tiny",
        "image": "cirros",
        "nics": [{"network": "lan"}],
        **extra,
    }
    return str((await site.resources.create_server(body))["id"])


async def test_server_is_built_running_with_its_ip_on_the_config_drive(site: Site) -> None:
    await lan(site)
    sid = await _server(site)
    await site.converge()
    server = await site.resources.show("server", sid)
    assert server["status"] == "ACTIVE"
    assert server["networks"][0]["ip"] == "10.0.0.2"
    domains = await site.domains()
    assert domains[sid].state == DomainState.RUNNING
    ports = await site.network.list_ports()
    assert [p.port_id for p in ports] == [server["networks"][0]["port"]]
    drive = site.compute.config_drives[site.host.config_drive_path(sid)]
    assert "10.0.0.2/24" in str(drive)
    assert (await site.storage.get_root_disk(sid)).backing_image_id == "cirros"


async def test_the_guest_starts_on_its_port_device_while_the_port_is_wired(site: Site) -> None:
    """The port's device is made with the root disk and the config drive, the domain is
    defined on it, and the port is wired (attached, rules, up) while the guest starts; the
    server is ACTIVE with its port plugged and no device left unwired."""
    await lan(site)
    sid = await _server(site)
    await site.converge(1)
    actions = [e.action for e in await site.store.call(site.store.journal_for, "server", sid)]
    assert actions.index("prepare_port") < actions.index("define") < actions.index("plug_port")
    assert actions.index("define") < actions.index("start")
    server = await site.resources.show("server", sid)
    assert server["status"] == "ACTIVE"
    ports = [p.port_id for p in await site.network.list_ports()]
    assert ports == [server["networks"][0]["port"]] and site.network.stray == {}


async def test_a_port_not_wired_in_time_is_wired_by_a_later_pass(site: Site) -> None:
    """The guest started but OVS could not take its port yet (a temporary error): the build
    is not recorded as done, so a later pass builds again, every step idempotent, and wires
    the port under the same running guest. Only then is the server ACTIVE."""
    await lan(site)
    site.network.fail("plug_port", NetworkUnavailable("OVSDB did not attach it in time", 1.0))
    sid = await _server(site)
    await site.converge(1)
    server = await site.resources.show("server", sid)
    assert server["status"] == "BUILDING" and "OVSDB did not attach" in server["message"]
    assert (await site.domains())[sid].state == DomainState.RUNNING
    assert await site.network.list_ports() == []
    await site.converge(1)
    server = await site.resources.show("server", sid)
    assert server["status"] == "ACTIVE"
    assert [p.port_id for p in await site.network.list_ports()] == [server["networks"][0]["port"]]
    assert list(await site.domains()) == [sid] and site.network.stray == {}
    starts = [e for e in await site.store.call(site.store.journal_for, "server", sid)]
    assert [e.action for e in starts].count("start") == 1  # the guest was not restarted


async def test_delete_leaves_no_residue(site: Site) -> None:
    await lan(site)
    sid = await _server(site)
    await site.resources.create_volume({"name": "data", "size_gb": 1})
    await site.resources.volume_action("data", "attach", {"server": sid})
    await site.converge()
    assert (await site.residue())["domains"] == [sid]
    await site.resources.delete("server", sid)
    await site.converge()
    await site.resources.delete("volume", "data")
    await site.resources.delete("network", "lan")
    await site.converge()
    assert await site.residue() == {
        "domains": [], "ports": [], "devices": [], "networks": [], "storage": [],
        "instance_dirs": [],
    }  # fmt: skip
    assert await site.store.call(site.store.table_count, "ipam") == 0
    assert await site.store.call(site.store.list_objects, "network") == []


async def test_network_in_use_cannot_be_deleted(site: Site) -> None:
    await lan(site)
    await _server(site)
    with pytest.raises(Exception, match="used by servers"):
        await site.resources.delete("network", "lan")


async def test_permanent_failure_rolls_back_and_reports_error(site: Site) -> None:
    await lan(site)
    site.network.fail("plug_port", NetworkFailure("ovs-vsctl refused the port"))
    sid = await _server(site)
    await site.converge()
    server = await site.resources.show("server", sid)
    assert server["status"] == "ERROR"
    assert "ovs-vsctl refused" in server["message"]
    residue = await site.residue()
    assert residue["domains"] == [] and residue["ports"] == []
    assert [s for s in residue["storage"] if s.startswith("root_disk")] == []
    # deleting the failed server still cleans everything
    await site.resources.delete("server", sid)
    await site.converge()
    assert (await site.residue())["instance_dirs"] == []


async def test_volume_attach_extend_snapshot(site: Site) -> None:
    await lan(site)
    vol = await site.resources.create_volume({"name": "data", "size_gb": 1})
    sid = await _server(site, volumes=["data"])
    await site.converge()
    assert (await site.resources.show("volume", "data"))["status"] == "IN-USE"
    await site.resources.volume_action("data", "extend", {"size_gb": 3})
    await site.resources.volume_action("data", "snapshot", {"name": "before"})
    await site.converge()
    disk = await site.storage.get_volume(vol["id"])
    assert disk.virtual_size_bytes == 3 * 1024**3
    assert [s.snapshot_id for s in await site.storage.list_snapshots(vol["id"])] == [
        f"{vol['id']}.before"
    ]
    assert sid in await site.domains()
    assert (await site.reconciler.audit()).removed == []  # the desired snapshot is no orphan


async def test_stop_start_reboot_rebuild(site: Site) -> None:
    await lan(site)
    sid = await _server(site)
    await site.converge()
    await site.resources.server_action(sid, "stop", {})
    await site.converge()
    assert (await site.domains())[sid].state == DomainState.SHUTOFF
    assert (await site.resources.show("server", sid))["status"] == "SHUTOFF"
    await site.resources.server_action(sid, "start", {})
    await site.converge()
    assert (await site.domains())[sid].state == DomainState.RUNNING
    await site.resources.server_action(sid, "reboot", {"hard": True})
    await site.resources.server_action(sid, "rebuild", {})
    await site.converge()
    assert (await site.resources.show("server", sid))["status"] == "ACTIVE"
    assert len(await site.domains()) == 1


async def test_crash_restart_policy_and_backoff(site: Site) -> None:
    await lan(site)
    sid = await _server(site)  # on-failure by default
    await site.converge()
    site.compute.crash(sid)
    await site.converge(1)
    assert (await site.domains())[sid].state == DomainState.RUNNING
    assert (await site.resources.show("server", sid))["restarts"] == 1
    site.compute.crash(sid)
    await site.converge(1)  # second restart in a row waits 2 s
    assert (await site.domains())[sid].state == DomainState.SHUTOFF
    assert "restarting in" in (await site.resources.show("server", sid))["message"]
    site.clock.now += 2.5
    await site.converge(1)
    assert (await site.domains())[sid].state == DomainState.RUNNING
    assert (await site.resources.show("server", sid))["restarts"] == 2


async def test_never_policy_and_guest_shutdown(site: Site) -> None:
    await lan(site)
    never = await _server(site, "never", restart_policy="never")
    polite = await _server(site, "polite")
    await site.converge()
    site.compute.crash(never)
    await site.compute.stop(polite)  # the guest shuts itself down: on-failure leaves it
    await site.converge()
    domains = await site.domains()
    assert domains[never].state == DomainState.SHUTOFF
    assert (await site.resources.show("server", never))["status"] == "CRASHED"
    assert domains[polite].state == DomainState.SHUTOFF
    assert (await site.resources.show("server", polite))["status"] == "SHUTOFF"


async def test_lifecycle_event_updates_status_without_a_pass(site: Site) -> None:
    await lan(site)
    sid = await _server(site, restart_policy="never")
    await site.converge()
    await site.compute.subscribe(site.reconciler.on_event)
    site.compute.crash(sid)
    for _ in range(50):
        await asyncio.sleep(0.01)
        if (await site.resources.show("server", sid))["status"] != "ACTIVE":
            break
    assert (await site.resources.show("server", sid))["status"] == "SHUTOFF"


async def test_volume_hotplug_on_a_running_server_then_delete(site: Site) -> None:
    await lan(site)
    sid = await _server(site)
    await site.converge()
    vol = await site.resources.create_volume({"name": "data", "size_gb": 1})
    await site.resources.volume_action("data", "attach", {"server": sid})
    await site.converge()
    actions = [e.action for e in await site.store.call(site.store.journal_for, "server", sid)]
    assert "attach_volume" in actions
    assert (await site.domains())[sid].state == DomainState.RUNNING  # no restart needed
    await site.resources.volume_action("data", "detach", {})
    await site.resources.delete("volume", "data")
    await site.converge()
    actions = [e.action for e in await site.store.call(site.store.journal_for, "server", sid)]
    assert actions.index("detach_volume") > actions.index("attach_volume")
    assert [o.object_id for o in await site.storage.list_owned() if o.kind == "volume"] == []
    assert vol["id"] not in str(await site.store.call(site.store.get_status, "server", sid))


async def test_unknown_physical_network_is_refused_up_front(site: Site) -> None:
    from atoll.site_agent.errors import BadSpec

    site.resources.physical_networks = {"physnet1"}
    with pytest.raises(BadSpec) as info:
        await site.resources.create_network(
            {"name": "wan", "segment_type": "vlan", "vlan_id": 7, "physical_network": "physnet9"}
        )
    assert "physnet9" in str(info.value) and "physnet1" in str(info.value)
    made = await site.resources.create_network(
        {"name": "wan", "segment_type": "vlan", "vlan_id": 7, "physical_network": "physnet1"}
    )
    await site.converge(1)
    assert (await site.resources.show("network", made["id"]))["status"] == "ACTIVE"
    assert made["id"] in await site.network.list_networks()


async def test_a_subnet_spec_that_no_longer_loads_is_error_and_the_rest_converges(
    site: Site,
) -> None:
    """A stored spec the model refuses (damaged, or a range a newer model refuses) turns that
    subnet ERROR with the problem; its network and the other networks still converge, and
    the network can still be deleted."""
    await site.resources.create_network({"name": "wan"})
    await site.resources.create_subnet({"network": "wan", "cidr": "10.1.0.0/24"})
    await site.resources.create_network({"name": "lan"})
    made = await site.resources.create_subnet({"network": "lan", "cidr": "10.0.0.0/24"})
    bad = await site.store.call(site.store.get_object, "subnet", str(made["id"]))
    damaged = {**bad.spec, "cidr": "127.0.0.0/24", "gateway": None}  # a loopback range
    await site.store.call(site.store.update_specs, [("subnet", bad.id, damaged)])
    await site.converge(1)
    status = await site.store.call(site.store.get_status, "subnet", bad.id)
    assert status is not None and status.state == "ERROR"
    assert f"subnet {bad.id}.cidr" in status.message and "loopback" in status.message
    for name in ("lan", "wan"):
        assert (await site.resources.show("network", name))["status"] == "ACTIVE"
    await site.resources.delete("network", "lan")
    await site.converge()
    assert [n.name for n in await site.store.call(site.store.list_objects, "network")] == ["wan"]
    assert bad.id not in [s.id for s in await site.store.call(site.store.list_objects, "subnet")]


async def test_sriov_port_becomes_a_hostdev_nic(tmp_path: Path) -> None:
    site = await make_site(tmp_path, sriov_vfs=1)
    try:
        await site.resources.create_network(
            {"name": "fast", "segment_type": "vlan", "vlan_id": 42, "physical_network": "physnet1"}
        )
        body = {
            "name": "vnf",
            "flavor": "tiny",
            "image": "cirros",
            "nics": [{"network": "fast", "vnic_type": "direct"}],
        }
        sid = (await site.resources.create_server(body))["id"]
        await site.converge()
        assert (await site.resources.show("server", sid))["status"] == "ACTIVE"
        nic = site.compute._domains[sid].spec.nics[0]  # what the hypervisor was given
        assert nic.tap is None and nic.hostdev_pci and nic.vlan == 42
        # the only VF is taken: a second direct port fails and leaves nothing behind
        second = (await site.resources.create_server({**body, "name": "vnf2"}))["id"]
        await site.converge()
        failed = await site.resources.show("server", second)
        assert failed["status"] == "ERROR" and "virtual function" in failed["message"]
        assert second not in await site.domains()
    finally:
        await site.close()


async def test_a_network_failure_s_status_names_no_host_path(site: Site) -> None:
    """The network driver's words name its sockets (``unix:/run/openvswitch/db.sock``, a
    bridge's ``.mgmt``): the status a site user or the hub's tenant reads says the file's
    name only; the agent's log keeps the whole."""
    socket_path = "/var/lib/atoll/site-agent/run/openvswitch/db.sock"
    error = NetworkFailure(f"cannot add bridge: ovs-vsctl: unix:{socket_path}: refused")
    site.network.fail("ensure_network", error)
    await site.resources.create_network({"name": "lan"})
    await site.converge(1)
    status = await site.resources.show("network", "lan")
    assert "/var/lib" not in str(status) and "db.sock" in str(status), status
