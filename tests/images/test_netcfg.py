"""The reference guest's network-config reader against what the compute driver writes."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.images.reference.netcfg import NETCFG_AWK
from atoll.site_agent.drivers.compute import configdrive
from atoll.site_agent.drivers.compute.base import ConfigDriveSpec, NetworkConfig


def _read(tmp: Path, spec: ConfigDriveSpec) -> list[list[str]]:
    (tmp / "netcfg.awk").write_text(NETCFG_AWK)
    (tmp / "network-config").write_text(configdrive.render(spec)["network-config"])
    out = subprocess.run(["busybox", "awk", "-f", str(tmp / "netcfg.awk"),
                          str(tmp / "network-config")], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    return [line.split() for line in out.splitlines()]


def test_two_nics_with_addresses_gateway_and_mtu(tmp_path: Path) -> None:
    nics = (
        NetworkConfig("52:54:00:12:34:56", ("10.0.0.5/24", "fd00::5/64"), "10.0.0.1",
                      ("192.0.2.53",), 1400),
        NetworkConfig("fa:16:3e:ab:cd:ef", ("192.168.7.9/28",)),
    )  # fmt: skip
    lines = _read(tmp_path, ConfigDriveSpec("i-1", "vnf-1", networks=nics))
    assert lines == [
        ["addr", "52:54:00:12:34:56", "10.0.0.5/24"],
        ["addr", "52:54:00:12:34:56", "fd00::5/64"],
        ["mtu", "52:54:00:12:34:56", "1400"],
        ["gw", "52:54:00:12:34:56", "10.0.0.1"],
        ["addr", "fa:16:3e:ab:cd:ef", "192.168.7.9/28"],
    ]


_MAC = st.lists(st.integers(0, 255), min_size=6, max_size=6).map(
    lambda b: ":".join(f"{x:02x}" for x in b)
)
_V4 = st.tuples(st.integers(1, 223), st.integers(0, 255), st.integers(0, 255),
                st.integers(1, 254), st.integers(8, 30))  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(_MAC, st.lists(_V4, min_size=1, max_size=3)), min_size=1, max_size=3))
def test_every_nic_gets_its_addresses(nics: list[tuple[str, list[tuple[int, ...]]]]) -> None:
    configs = tuple(
        NetworkConfig(mac, tuple("{}.{}.{}.{}/{}".format(*a) for a in addrs)) for mac, addrs in nics
    )
    with tempfile.TemporaryDirectory() as tmp:
        lines = _read(Path(tmp), ConfigDriveSpec("i-1", "h", networks=configs))
    expected = [["addr", c.mac, a] for c in configs for a in c.addresses]
    assert lines == expected
