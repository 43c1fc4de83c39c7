"""Settings of the network driver (TOML section ``[network]``, env ``ATOLL_NETWORK_*``).

The ``network`` group of the agent's settings (``atoll.site_agent.settings``), passed as it
is to :class:`~.ovs.OvsNetwork`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atoll.errors import ConfigError
from atoll.site_agent.drivers.network.base import DEFAULT_DEVICE_PREFIX, IFNAME_MAX


@dataclass(frozen=True)
class NetworkSettings:
    # OVSDB connection string (``unix:/path/db.sock`` or ``tcp:host:port``).
    ovsdb_remote: str = "unix:/run/openvswitch/db.sock"
    ovsdb_timeout: float = 10.0  # seconds an OVSDB transaction may take
    # Where ovs-vswitchd keeps ``<bridge>.mgmt`` (OpenFlow); default: the unix remote's dir.
    ovs_rundir: Path | None = None
    # Not ``br-int``: that one belongs to a Neutron or OVN agent on the same host.
    integration_bridge: str = "br-int"  # what agents have used (Neutron's name); keep on upgrade
    # ``netdev`` (userspace) on hosts without the OVS kernel module, ``system`` otherwise.
    datapath_type: str = "netdev"
    # ``physnet:interface`` pairs: the uplink of each physical network.
    physical_networks: tuple[str, ...] = ()
    # ``physnet:pf_interface`` pairs: SR-IOV physical functions per physical network.
    sriov_physical_networks: tuple[str, ...] = ()
    sysfs_root: Path = Path("/sys")  # where SR-IOV VFs are read (tests point it elsewhere)
    # Host devices we make are named prefix + port id, so leftovers can be swept.
    device_prefix: str = DEFAULT_DEVICE_PREFIX
    # The named network namespace (``ip netns``) where ovs-vswitchd and the VMs' taps live,
    # when the agent runs in another one (the testbed puts each agent in a namespace of its
    # own, its WAN link there, and the data plane in the host's); default: the agent's own.
    datapath_namespace: str | None = None
    # Tag on everything we make in OVS (``external_ids:atoll-owner``): our site's id.
    owner: str = "atoll"

    def mappings(self, field: str) -> dict[str, str]:
        """``physical_networks`` or ``sriov_physical_networks`` as a dict, checked."""
        pairs: tuple[str, ...] = getattr(self, field)
        found: dict[str, str] = {}
        for pair in pairs:
            physnet, sep, device = pair.partition(":")
            if not sep or not physnet or not device or len(device) > IFNAME_MAX:
                raise ConfigError(
                    f"[network] {field}: {pair!r} is not 'physnet:interface' "
                    "(interface names are at most 15 bytes)"
                )
            if physnet in found:
                raise ConfigError(f"[network] {field}: physical network {physnet} is mapped twice")
            found[physnet] = device
        return found

    def rundir(self) -> Path:
        if self.ovs_rundir is not None:
            return self.ovs_rundir
        if self.ovsdb_remote.startswith("unix:"):
            return Path(self.ovsdb_remote.removeprefix("unix:")).parent
        return Path("/run/openvswitch")
