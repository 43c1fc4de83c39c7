"""SR-IOV discovery, VF allocation and configuration against a sysfs-shaped tree.

There is no SR-IOV hardware on these machines: the tree is made in tmp_path the way the
kernel lays it out, and the VF setter is a recorder standing in for the NIC.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from atoll.site_agent.drivers.network.errors import (
    NetworkFailure,
    NetworkSpecInvalid,
    VfExhausted,
)
from atoll.site_agent.drivers.network.links import HostLinks
from atoll.site_agent.drivers.network.sriov import NetlinkVfSetter, SriovPool, discover


class Recorder:
    """What ``ip link set PF vf N mac M vlan V`` would have been told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str, int]] = []

    def set_vf(self, pf: str, index: int, mac: str, vlan: int) -> None:
        self.calls.append((pf, index, mac, vlan))


def make_sysfs(root: Path, pf: str, bus: int, vfs: int, bound: bool = True) -> None:
    """``/sys/class/net/<pf>/device`` -> a PCI function with ``vfs`` virtfnN links."""
    pci = root / "devices" / "pci0000:00"
    pf_dev = pci / f"0000:{bus:02x}:00.0"
    pf_dev.mkdir(parents=True)
    (pf_dev / "sriov_totalvfs").write_text("64\n")
    (pf_dev / "sriov_numvfs").write_text(f"{vfs}\n")
    for n in range(vfs):
        vf_dev = pci / f"0000:{bus:02x}:{0x10 + n // 8:02x}.{n % 8}"
        vf_dev.mkdir()
        if bound:
            (vf_dev / "net" / f"{pf}v{n}").mkdir(parents=True)
        (pf_dev / f"virtfn{n}").symlink_to(Path("..") / vf_dev.name)
    net = root / "class" / "net"
    net.mkdir(parents=True, exist_ok=True)
    (net / pf).mkdir()
    (net / pf / "device").symlink_to(pf_dev)


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    make_sysfs(root, "enp3s0f0", bus=3, vfs=12)
    make_sysfs(root, "enp4s0f0", bus=4, vfs=1, bound=False)
    (root / "class" / "net" / "eth0" / "device").mkdir(parents=True)  # a NIC without SR-IOV
    (root / "class" / "net" / "lo").mkdir()
    return root


def test_discovery_finds_pfs_and_vfs_in_index_order(sysfs: Path) -> None:
    pfs = {pf.name: pf for pf in discover(sysfs)}
    assert sorted(pfs) == ["enp3s0f0", "enp4s0f0"]
    big = pfs["enp3s0f0"]
    assert big.pci_address == "0000:03:00.0" and big.total_vfs == 64 and big.num_vfs == 12
    assert [vf.index for vf in big.vfs] == list(range(12))  # virtfn10 after virtfn9
    assert big.vfs[9].pci_address == "0000:03:11.1"
    assert big.vfs[0].ifname == "enp3s0f0v0"
    assert pfs["enp4s0f0"].vfs[0].ifname is None
    assert discover(sysfs / "nothing-here") == []


def test_allocation_programs_mac_and_vlan_and_release_clears(sysfs: Path) -> None:
    setter = Recorder()
    pool = SriovPool({"physnet2": "enp4s0f0"}, sysfs, setter)
    vf = pool.allocate("port-1", "physnet2", "fa:16:3e:00:00:01", 300, "net-1")
    assert vf.pci_address == "0000:04:10.0"
    assert setter.calls == [("enp4s0f0", 0, "fa:16:3e:00:00:01", 300)]
    assert pool.allocate("port-1", "physnet2", "fa:16:3e:00:00:01", 300) == vf  # replay
    with pytest.raises(VfExhausted, match=r"physnet2 \(PF enp4s0f0: 1 VFs, all allocated\)"):
        pool.allocate("port-2", "physnet2", "fa:16:3e:00:00:02", 300)
    [owned] = pool.owned_ports()
    assert (owned.port_id, owned.device, owned.vnic_type) == ("port-1", vf.pci_address, "direct")
    assert pool.release("port-1") == vf
    assert setter.calls[-1] == ("enp4s0f0", 0, "00:00:00:00:00:00", 0)
    assert pool.release("port-1") is None
    assert pool.allocate("port-2", "physnet2", "fa:16:3e:00:00:02", 0).index == 0


def test_allocations_survive_a_restart_through_the_core(sysfs: Path) -> None:
    pool = SriovPool({"physnet1": "enp3s0f0"}, sysfs, Recorder())
    first = [pool.allocate(f"p{i}", "physnet1", f"fa:16:3e:00:01:{i:02x}", 10) for i in range(3)]
    assert [v.index for v in first] == [0, 1, 2]
    pool.release("p1")
    saved = pool.to_dict()
    again = SriovPool({"physnet1": "enp3s0f0"}, sysfs, Recorder(), allocations=saved)
    assert again.to_dict() == saved
    assert again.allocate("p9", "physnet1", "fa:16:3e:00:01:09", 10).index == 1


def test_misconfiguration_is_explained(sysfs: Path) -> None:
    pool = SriovPool({"physnet1": "enp3s0f0", "physnet3": "enp9s0f0"}, sysfs, Recorder())
    with pytest.raises(NetworkSpecInvalid, match="physnet7"):
        pool.allocate("p", "physnet7", "fa:16:3e:00:00:01", 0)
    with pytest.raises(NetworkFailure, match="enp9s0f0 of physnet3 is missing"):
        pool.allocate("p", "physnet3", "fa:16:3e:00:00:01", 0)


@pytest.mark.integration
def test_netlink_setter_reports_a_device_without_vfs_clearly() -> None:
    """The real setter, on a real link that has no VFs: a NetworkFailure naming PF and VF."""
    links, name = HostLinks(), f"at-s{secrets.token_hex(3)}"
    links.create_veth(name, name + "p")
    try:
        with pytest.raises(NetworkFailure, match=f"cannot set VF 0 of {name}"):
            NetlinkVfSetter().set_vf(name, 0, "fa:16:3e:00:00:01", 100)
        with pytest.raises(NetworkFailure, match="does not exist"):
            NetlinkVfSetter().set_vf("at-nosuchpf0", 0, "fa:16:3e:00:00:01", 100)
    finally:
        links.delete(name)
