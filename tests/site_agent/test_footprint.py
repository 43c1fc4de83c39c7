"""What an idle, unjoined site agent holds in memory: not the modules it only needs once it
has joined a hub (the sync session, its msgpack codec, the image puller), nor the parts of
pyroute2 the network driver does not use (``bench/bench_site_agent.py`` measures the RSS)."""

from __future__ import annotations

import json
import subprocess
import sys

# What ``atoll site-agent run`` imports before it serves, with the real drivers.
DAEMON = (
    "import atoll.cli, atoll.site_agent.cli, atoll.site_agent.daemon, "
    "atoll.site_agent.drivers.compute.libvirt, atoll.site_agent.drivers.network.ovs, "
    "atoll.site_agent.drivers.storage.local"
)


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_an_unjoined_agent_does_not_load_what_only_a_joined_one_uses() -> None:
    loaded = _modules_after(DAEMON)
    assert "atoll.site_agent.daemon" in loaded
    joined_only = {
        "msgpack",
        "atoll.sync.codec",
        "atoll.site_agent.sync.session",
        "atoll.site_agent.hub_images",
        "atoll.site_agent.hub_revocations",
        "atoll.images.transfer",
    }
    assert joined_only.isdisjoint(loaded), sorted(joined_only & loaded)


def test_the_network_driver_loads_pyroute2_without_its_package_init() -> None:
    code = (
        f"{DAEMON}\n"
        "from atoll.site_agent.drivers.network.links import HostLinks\n"
        "assert 'lo' in HostLinks().names()\n"
    )
    loaded = _modules_after(code)
    assert "pyroute2.iproute.linux" in loaded
    assert {"pyroute2.ndb.main", "pyroute2.ipdb", "pyroute2.conntrack"}.isdisjoint(loaded)


def test_a_whole_pyroute2_imported_first_is_the_one_used() -> None:
    code = (
        "import pyroute2\n"
        "from atoll.site_agent.drivers.network import netlink\n"
        "assert netlink.IPRoute is pyroute2.IPRoute, (netlink.IPRoute, pyroute2.IPRoute)\n"
    )
    assert "pyroute2.ndb.main" in _modules_after(code)
