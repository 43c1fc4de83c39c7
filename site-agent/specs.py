"""The site's request bodies, declared by the typed model (:mod:`atoll.resources`), and the
few rules a site adds to it (pure: no store, no drivers).

Each body is ``{"name", ...the kind's spec}`` (:class:`atoll.api.bodies.ModelBody`): decoded
once, strictly, every problem reported with where it is (``body.nics[1].network``). What
the site fills in itself (a server's ports and size, a volume's attachment) is refused in
a request. Cross-object checks (the flavor exists, the image is present, the name is free,
the subnet has addresses left) are :mod:`.resources`' job.
"""

from __future__ import annotations

import ipaddress
import re

from atoll.api.bodies import ModelBody
from atoll.errors import InvalidInput, Problem
from atoll.jsonbody import JSON
from atoll.resources import FlavorSpec, NetworkSpec, ServerSpec, SubnetSpec, VolumeSpec
from atoll.resources.model import NAME, NAME_HINT
from atoll.site_agent.drivers.network import base as net

_NAME = re.compile(rf"^{NAME}$")

SERVER = ModelBody(
    "ServerCreate",
    ServerSpec,
    not_settable=("reboots", "reboot_hard", "rebuilds", "ports", "vcpus", "ram_mb"),
    description="flavor and image (or kernel) present at this site; nics name its networks",
)
NETWORK = ModelBody("NetworkCreate", NetworkSpec, description="a vlan network needs both "
                    "a vlan_id and a physical_network of this site")  # fmt: skip
SUBNET = ModelBody(
    "SubnetCreate",
    SubnetSpec,
    name_required=False,
    description="gateway: the first host address unless given (null: none)",
)
VOLUME = ModelBody("VolumeCreate", VolumeSpec, not_settable=("server", "snapshots"))
FLAVOR = ModelBody("FlavorCreate", FlavorSpec)


def network_problems(network_id: str, name: str | None, spec: NetworkSpec) -> list[Problem]:
    """What the site's network driver refuses beyond the model (a VLAN needs an uplink)."""
    as_driver = net.NetworkSpec(
        id=network_id,
        name=name or "",
        segment_type=spec.segment_type,
        physical_network=spec.physical_network,
        vlan_id=spec.vlan_id,
        mtu=spec.mtu,
    )
    return [Problem(p.where.replace("network.", "body.", 1), p.what) for p in as_driver.problems()]


def subnet_defaults(body: object) -> JSON:
    """As Neutron: the gateway is the first host address, unless the body gives one (or null)."""
    if not isinstance(body, dict) or "gateway" in body or not isinstance(body.get("cidr"), str):
        return {}
    try:
        net_ = ipaddress.ip_network(body["cidr"], strict=True)
    except ValueError:
        return {}  # reported by the subnet's own checks
    if net_.num_addresses < 4:
        return {}
    return {"gateway": str(net_.network_address + 1)}


def subnet_spec(subnet_id: str, spec: SubnetSpec) -> net.SubnetSpec:
    """The network driver's (and IPAM's) view of a subnet."""
    return net.SubnetSpec(
        id=subnet_id,
        cidr=spec.cidr,
        gateway=spec.gateway,
        allocation_pools=tuple(net.AllocationPool(p.start, p.end) for p in spec.allocation_pools),
        dns_nameservers=spec.dns_nameservers,
    )


def snapshot_name(body: JSON, default: str) -> str:
    """The name a volume snapshot action asks for (``default`` when none), checked like any."""
    value = body.get("name")
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(
            "the snapshot is not valid",
            [Problem("body.name", NAME_HINT)],
        )
    return value
