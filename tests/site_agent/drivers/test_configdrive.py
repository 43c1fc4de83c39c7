"""Config drives: rendered NoCloud files, and the ISO genisoimage writes, read back with isoinfo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from atoll.site_agent.drivers.compute import configdrive
from atoll.site_agent.drivers.compute.base import ConfigDriveSpec, NetworkConfig
from atoll.site_agent.drivers.compute.errors import InvalidDomainSpec
from atoll.site_agent.drivers.compute.fake import FakeCompute

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx5 noc@atoll"
SPEC = ConfigDriveSpec(
    instance_id="srv-42",
    hostname="vnf-a",
    ssh_keys=(KEY,),
    networks=(
        NetworkConfig(
            "52:54:00:00:00:0a", ("10.0.0.5/24",), gateway="10.0.0.1", dns=("10.0.0.2",), mtu=1450
        ),
        NetworkConfig("52:54:00:00:00:0b", ("192.168.7.9/28", "fd00::9/64")),
    ),
)


def isoinfo(iso: Path, *args: str) -> str:
    return subprocess.run(
        ["isoinfo", "-i", str(iso), *args], capture_output=True, text=True, check=True
    ).stdout


def test_files_follow_the_nocloud_layout() -> None:
    files = configdrive.render(SPEC)
    meta = yaml.safe_load(files["meta-data"])
    assert meta == {"instance-id": "srv-42", "local-hostname": "vnf-a", "public-keys": [KEY]}
    user = files["user-data"]
    assert user.startswith("#cloud-config\n")
    assert yaml.safe_load(user)["ssh_authorized_keys"] == [KEY]
    net = yaml.safe_load(files["network-config"])
    assert net["version"] == 2
    eth0, eth1 = net["ethernets"]["eth0"], net["ethernets"]["eth1"]
    assert eth0 == {
        "match": {"macaddress": "52:54:00:00:00:0a"},
        "set-name": "eth0",
        "dhcp4": False,
        "dhcp6": False,
        "addresses": ["10.0.0.5/24"],
        "routes": [{"to": "0.0.0.0/0", "via": "10.0.0.1"}],
        "nameservers": {"addresses": ["10.0.0.2"]},
        "mtu": 1450,
    }
    assert eth1["addresses"] == ["192.168.7.9/28", "fd00::9/64"] and "routes" not in eth1


def test_user_data_is_passed_through_untouched() -> None:
    script = "#!/bin/sh\necho 'hello: world' > /tmp/x\n"
    spec = ConfigDriveSpec("i", "h", user_data=script)
    assert configdrive.render(spec)["user-data"] == script


def test_bad_values_are_reported_together() -> None:
    spec = ConfigDriveSpec(
        "", "h" * 64, networks=(NetworkConfig("nope", ("10.0.0.300/24",), gateway="gw"),)
    )
    with pytest.raises(InvalidDomainSpec) as caught:
        configdrive.render(spec)
    wheres = [p.where for p in caught.value.problems]
    assert wheres == [
        "config_drive.instance_id",
        "config_drive.hostname",
        "config_drive.networks[0].mac",
        "config_drive.networks[0].addresses",
        "config_drive.networks[0]",
    ]


@pytest.mark.integration
def test_iso_carries_the_files_under_the_cidata_label(tmp_path: Path) -> None:
    iso = configdrive.build(SPEC, tmp_path / "drives" / "srv-42.iso")
    assert "Volume id: cidata" in isoinfo(iso, "-d")
    listing = isoinfo(iso, "-R", "-f")
    assert sorted(listing.split()) == ["/meta-data", "/network-config", "/user-data"]
    joliet = isoinfo(iso, "-J", "-f")
    assert "/network-config" in joliet.split()
    expected = configdrive.render(SPEC)
    for name, text in expected.items():
        assert isoinfo(iso, "-R", "-x", f"/{name}") == text
    assert [p.name for p in iso.parent.iterdir()] == ["srv-42.iso"], "no staging left behind"


async def test_fake_keeps_the_rendered_drive() -> None:
    fake = FakeCompute()
    path = Path("/nowhere/srv-42.iso")
    assert await fake.build_config_drive(SPEC, path) == path
    assert fake.config_drives[path] == configdrive.render(SPEC)
