"""``Host``: the three drivers of this machine and where the agent keeps per-server files.

The reconciler, audit and recovery are given one ``Host``; tests hand in the drivers'
in-memory fakes, the daemon the real drivers. Translation between the agent's desired spec
(JSON in the store) and the drivers' value types lives here too, so every caller builds a
``NetworkSpec`` or ``PortSpec`` the same way.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    stop_timeout: float = 30.0
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
    spec: dict[str, Any] = network.spec
    return NetworkSpec(
        id=network.id,
        name=network.name or network.id,
        segment_type=spec.get("segment_type", "flat"),
        physical_network=spec.get("physical_network"),
        vlan_id=spec.get("vlan_id"),
        subnets=tuple(subnet_spec(s.id, s.spec) for s in subnets),
        mtu=spec.get("mtu", 1500),
    )


def port_spec(port: DesiredObject) -> PortSpec:
    spec = port.spec
    fixed = (FixedIp(spec["subnet"], spec["ip"]),) if spec.get("ip") else ()
    return PortSpec(
        id=port.id,
        network_id=spec["network"],
        mac=spec["mac"],
        server_id=spec.get("server"),
        fixed_ips=fixed,
        vnic_type=spec.get("vnic_type", "normal"),
    )
