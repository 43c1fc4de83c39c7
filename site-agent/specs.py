"""Checking request bodies into normalized desired specs (pure: no store, no drivers).

Each ``parse_*`` takes what a client sent and returns the spec dict the store keeps, or
raises :class:`~atoll.errors.InvalidInput` listing every problem with where it is
(``body.networks[1].network``). Cross-object checks (the flavor exists, the image is
present, the name is free, the subnet has addresses left) are :mod:`.resources`' job.
"""

from __future__ import annotations

import ipaddress
import re
import typing

from atoll.errors import InvalidInput, Problem
from atoll.jsonbody import JSON
from atoll.printable import PRINTABLE_HELP, is_printable
from atoll.resources.compute import MAX_NICS, MAX_USER_DATA, Power, RestartPolicy
from atoll.resources.model import NAME
from atoll.site_agent.drivers.network.base import AllocationPool, NetworkSpec, SubnetSpec

_NAME = re.compile(rf"^{NAME}$")
RESTART_POLICIES: tuple[str, ...] = typing.get_args(RestartPolicy)
POWER_STATES: tuple[str, ...] = typing.get_args(Power)


class _Checker:
    def __init__(self, body: object, what: str) -> None:
        self.problems: list[Problem] = []
        self.what = what
        if not isinstance(body, dict):
            raise InvalidInput(
                f"the {what} must be a JSON object", [Problem("body", "not an object")]
            )
        self.body: JSON = body

    def known(self, allowed: set[str]) -> None:
        for key in sorted(set(self.body) - allowed):
            self.problems.append(
                Problem(f"body.{key}", f"unknown field; known: {', '.join(sorted(allowed))}")
            )

    def name(self, required: bool = True) -> str | None:
        value = self.body.get("name")
        if value is None and not required:
            return None
        if not isinstance(value, str) or not _NAME.match(value):
            self.problems.append(
                Problem(
                    "body.name",
                    "must be 1-63 letters, digits or '-', not starting or ending with '-'",
                )
            )
            return None
        return value

    def text(self, key: str, required: bool = True, default: str | None = None) -> str | None:
        value = self.body.get(key, default)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            self.problems.append(Problem(f"body.{key}", "must be a non-empty string"))
            return None
        if not is_printable(value):
            self.problems.append(Problem(f"body.{key}", f"must be {PRINTABLE_HELP}"))
            return None
        return value

    def integer(self, key: str, low: int, high: int, default: int | None = None) -> int | None:
        value = self.body.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problems.append(Problem(f"body.{key}", f"must be an integer in {low}..{high}"))
            return None
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.body.get(key, default)
        if value not in choices:
            self.problems.append(Problem(f"body.{key}", f"must be one of {', '.join(choices)}"))
            return default
        return str(value)

    def done(self) -> None:
        if self.problems:
            raise InvalidInput(f"the {self.what} is not valid", self.problems)


def parse_server(body: object, default_restart: str) -> JSON:
    c = _Checker(body, "server")
    c.known(
        {
            "name",
            "flavor",
            "image",
            "networks",
            "volumes",
            "ssh_keys",
            "user_data",
            "restart_policy",
            "power",
            "kernel",
            "ramdisk",
            "kernel_cmdline",
        }
    )
    spec: JSON = {
        "name": c.name(),
        "flavor": c.text("flavor"),
        "kernel": c.text("kernel", required=False),
        "ramdisk": c.text("ramdisk", required=False),
        "kernel_cmdline": c.text("kernel_cmdline", required=False, default="console=ttyS0"),
        "restart_policy": c.choice("restart_policy", RESTART_POLICIES, default_restart),
        "power": c.choice("power", POWER_STATES, "running"),
        "nics": _nics(c),
        "volumes": _str_list(c, "volumes", 16),
        "ssh_keys": _str_list(c, "ssh_keys", 32),
        "user_data": None,
        "reboots": 0,
        "image": c.text("image", required="kernel" not in c.body),
        "rebuilds": 0,
    }
    user_data = c.body.get("user_data")
    if user_data is not None:
        if not isinstance(user_data, str) or len(user_data.encode()) > MAX_USER_DATA:
            c.problems.append(
                Problem("body.user_data", f"must be text of at most {MAX_USER_DATA} bytes")
            )
        else:
            spec["user_data"] = user_data
    c.done()
    return spec


def _str_list(c: _Checker, key: str, limit: int) -> list[str]:
    value = c.body.get(key, [])
    if (
        not isinstance(value, list)
        or len(value) > limit
        or not all(isinstance(v, str) and v and is_printable(v) for v in value)
    ):
        c.problems.append(
            Problem(
                f"body.{key}",
                f"must be a list of at most {limit} non-empty strings ({PRINTABLE_HELP})",
            )
        )
        return []
    return list(value)


def _nics(c: _Checker) -> list[JSON]:
    value = c.body.get("networks", [])
    if not isinstance(value, list) or len(value) > MAX_NICS:
        c.problems.append(Problem("body.networks", f"must be a list of at most {MAX_NICS} NICs"))
        return []
    nics: list[JSON] = []
    for i, item in enumerate(value):
        where = f"body.networks[{i}]"
        if isinstance(item, str):
            item = {"network": item}
        if not isinstance(item, dict) or not isinstance(item.get("network"), str):
            c.problems.append(Problem(f"{where}.network", "must name a network (id or name)"))
            continue
        fixed = item.get("fixed_ip")
        if fixed is not None:
            try:
                ipaddress.ip_address(fixed)
            except (TypeError, ValueError):
                c.problems.append(Problem(f"{where}.fixed_ip", f"{fixed!r} is not an IP address"))
        vnic_type = item.get("vnic_type", "normal")
        if vnic_type not in ("normal", "direct"):
            c.problems.append(
                Problem(f"{where}.vnic_type", "must be normal (tap on OVS) or direct (SR-IOV VF)")
            )
        nics.append({"network": item["network"], "fixed_ip": fixed, "vnic_type": vnic_type})
    return nics


def parse_network(body: object, network_id: str) -> JSON:
    c = _Checker(body, "network")
    c.known({"name", "segment_type", "physical_network", "vlan_id", "mtu"})
    name = c.name()
    spec: JSON = {
        "name": name,
        "segment_type": c.choice("segment_type", ("flat", "vlan"), "flat"),
        "physical_network": c.text("physical_network", required=False),
        "vlan_id": c.integer("vlan_id", 1, 4094),
        "mtu": c.integer("mtu", 68, 9216, default=1500),
    }
    c.done()
    as_driver = NetworkSpec(
        id=network_id,
        name=name or "",
        segment_type=spec["segment_type"],
        physical_network=spec["physical_network"],
        vlan_id=spec["vlan_id"],
        mtu=spec["mtu"],
    )
    problems = [
        Problem(p.where.replace("network.", "body.", 1), p.what) for p in as_driver.problems()
    ]
    if problems:
        raise InvalidInput("the network is not valid", problems)
    return spec


def parse_subnet(body: object, subnet_id: str) -> JSON:
    c = _Checker(body, "subnet")
    c.known({"name", "network", "cidr", "gateway", "allocation_pools", "dns_nameservers"})
    spec: JSON = {
        "name": c.name(required=False),
        "network": c.text("network"),
        "cidr": c.text("cidr"),
        "gateway": c.text("gateway", required=False),
        "allocation_pools": [],
        "dns_nameservers": _str_list(c, "dns_nameservers", 4),
    }
    pools = c.body.get("allocation_pools", [])
    if not isinstance(pools, list) or not all(
        isinstance(p, dict) and isinstance(p.get("start"), str) and isinstance(p.get("end"), str)
        for p in pools
    ):
        c.problems.append(Problem("body.allocation_pools", "must be a list of {start, end}"))
    else:
        spec["allocation_pools"] = [{"start": p["start"], "end": p["end"]} for p in pools]
    c.done()
    if "gateway" not in c.body:  # as Neutron: the first address, unless null is given
        spec["gateway"] = _first_host(spec["cidr"])
    problems = subnet_spec(subnet_id, spec).problems("body")
    if problems:
        raise InvalidInput("the subnet is not valid", problems)
    return spec


def _first_host(cidr: str) -> str | None:
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError:
        return None  # reported by the subnet's own checks
    if net.num_addresses < 4:
        return None
    return str(net.network_address + 1)


def subnet_spec(subnet_id: str, spec: JSON) -> SubnetSpec:
    return SubnetSpec(
        id=subnet_id,
        cidr=spec["cidr"],
        gateway=spec.get("gateway"),
        allocation_pools=tuple(
            AllocationPool(p["start"], p["end"]) for p in spec["allocation_pools"]
        ),
        dns_nameservers=tuple(spec.get("dns_nameservers", ())),
    )


def snapshot_name(body: JSON, default: str) -> str:
    """The name a volume snapshot action asks for (``default`` when none), checked like any."""
    value = body.get("name")
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidInput(
            "the snapshot is not valid",
            [
                Problem(
                    "body.name",
                    "must be 1-63 letters, digits or '-', not starting or ending with '-'",
                )
            ],
        )
    return value


def parse_volume(body: object) -> JSON:
    c = _Checker(body, "volume")
    c.known({"name", "size_gb"})
    spec: JSON = {"name": c.name(), "size_gb": c.integer("size_gb", 1, 16384), "server": None}
    if spec["size_gb"] is None and not c.problems:
        c.problems.append(Problem("body.size_gb", "is required"))
    c.done()
    return spec


def parse_flavor(body: object) -> JSON:
    c = _Checker(body, "flavor")
    c.known({"name", "vcpus", "ram_mb"})
    spec: JSON = {
        "name": c.name(),
        "vcpus": c.integer("vcpus", 1, 64),
        "ram_mb": c.integer("ram_mb", 16, 1048576),
    }
    for key in ("vcpus", "ram_mb"):
        if spec[key] is None and not any(p.where == f"body.{key}" for p in c.problems):
            c.problems.append(Problem(f"body.{key}", "is required"))
    c.done()
    return spec
