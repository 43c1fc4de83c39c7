"""``Host``: the three drivers of this machine and where the agent keeps per-server files.

The reconciler, audit and recovery are given one ``Host``; tests hand in the drivers'
in-memory fakes, the daemon the real drivers. Translation between the agent's desired
objects (the typed model of :mod:`atoll.resources`) and the drivers' value types lives here
too, so every caller builds a ``NetworkSpec`` or ``PortSpec`` the same way.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from atoll.resources import NetworkSpec as NetworkModel
from atoll.resources import PortSpec as PortModel
from atoll.resources import SubnetSpec as SubnetModel
from atoll.site_agent.drivers.compute.base import ComputeDriver
from atoll.site_agent.drivers.network.base import FixedIp, NetworkDriver, NetworkSpec, PortSpec
from atoll.site_agent.drivers.storage.base import StorageDriver
from atoll.site_agent.specs import subnet_spec
from atoll.site_agent.store import DesiredObject

GiB = 1024**3


@dataclass
class Host:
    compute: ComputeDriver
    network: NetworkDriver
    storage: StorageDriver
    instances_dir: Path
    physical_networks: dict[str, str] = field(default_factory=dict)

    def instance_dir(self, server_id: str) -> Path:
        return self.instances_dir / server_id

    def config_drive_path(self, server_id: str) -> Path:
        return self.instance_dir(server_id) / "config.iso"

    def console_path(self, server_id: str) -> Path:
        return self.instance_dir(server_id) / "console.log"

    def instance_ids(self) -> set[str]:
        try:
            with os.scandir(self.instances_dir) as entries:
                return {e.name for e in entries if e.is_dir(follow_symlinks=False)}
        except FileNotFoundError:
            return set()

    def remove_instance_dir(self, server_id: str) -> None:
        shutil.rmtree(self.instance_dir(server_id), ignore_errors=True)


def network_spec(network: DesiredObject, subnets: list[DesiredObject]) -> NetworkSpec:
    """The driver's view of a desired network and its subnets."""
    spec = network.typed(NetworkModel)
    return NetworkSpec(
        id=network.id,
        name=network.name or network.id,
        segment_type=spec.segment_type,
        physical_network=spec.physical_network,
        vlan_id=spec.vlan_id,
        subnets=tuple(subnet_spec(s.id, s.typed(SubnetModel)) for s in subnets),
        mtu=spec.mtu,
    )


def port_spec(port: DesiredObject) -> PortSpec:
    """The driver's view of a desired port."""
    spec = port.typed(PortModel)
    fixed = (FixedIp(spec.subnet, spec.ip),) if spec.ip and spec.subnet else ()
    return PortSpec(
        id=port.id,
        network_id=spec.network,
        mac=spec.mac or "",
        server_id=spec.server,
        fixed_ips=fixed,
        vnic_type=spec.vnic_type,
    )
