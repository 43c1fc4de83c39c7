"""Config drives: an ISO9660 image in cloud-init's NoCloud layout, made with genisoimage.

The drive is labelled ``cidata`` (guests find it with ``findfs LABEL=cidata`` or
cloud-init's NoCloud datasource) and holds, at its root:

- ``meta-data``: YAML with ``instance-id``, ``local-hostname`` and ``public-keys``;
- ``user-data``: the user's data as given, or a ``#cloud-config`` carrying the SSH keys;
- ``network-config``: network config version 2, one ``ethernets`` entry per NIC matched
  by MAC, with static addresses, a default route and name servers (no DHCP).

:func:`render` is pure (the fake driver uses it too); :func:`build` writes the ISO
atomically (a temporary file renamed into place), so a crash never leaves half an ISO. A
failure to write it (genisoimage's, or the disk's) is ``ComputePermanent`` by
:func:`~.errors.translate`: it names the server, not the drive's path.
"""

from __future__ import annotations

import ipaddress
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from atoll.errors import Problem
from atoll.site_agent.drivers.compute.base import ConfigDriveSpec, NetworkConfig
from atoll.site_agent.drivers.compute.errors import InvalidDomainSpec, translate
from atoll.site_agent.drivers.compute.validation import MAC

VOLUME_LABEL = "cidata"
GENISOIMAGE_TIMEOUT = 60.0


def _check(spec: ConfigDriveSpec) -> None:
    problems: list[Problem] = []
    if not spec.instance_id:
        problems.append(Problem("config_drive.instance_id", "must not be empty"))
    if not spec.hostname or len(spec.hostname) > 63:
        problems.append(Problem("config_drive.hostname", "must be 1-63 characters"))
    for i, net in enumerate(spec.networks):
        where = f"config_drive.networks[{i}]"
        if not MAC.match(net.mac):
            problems.append(Problem(f"{where}.mac", f"{net.mac!r} is not a lowercase MAC"))
        for address in net.addresses:
            try:
                ipaddress.ip_interface(address)
            except ValueError:
                problems.append(Problem(f"{where}.addresses", f"{address!r} is not IP/prefix"))
        for ip in (*net.dns, *((net.gateway,) if net.gateway else ())):
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                problems.append(Problem(where, f"{ip!r} is not an IP address"))
    if problems:
        raise InvalidDomainSpec("the config drive cannot be built", problems)


def _ethernet(net: NetworkConfig, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "match": {"macaddress": net.mac},
        "set-name": name,
        "dhcp4": False,
        "dhcp6": False,
        "addresses": list(net.addresses),
    }
    if net.gateway:
        default = "0.0.0.0/0" if ipaddress.ip_address(net.gateway).version == 4 else "::/0"
        entry["routes"] = [{"to": default, "via": net.gateway}]
    if net.dns:
        entry["nameservers"] = {"addresses": list(net.dns)}
    if net.mtu:
        entry["mtu"] = net.mtu
    return entry


def _dump(data: object) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)


def render(spec: ConfigDriveSpec) -> dict[str, str]:
    """The files of the drive, by name (``meta-data``, ``user-data``, ``network-config``)."""
    _check(spec)
    meta: dict[str, Any] = {"instance-id": spec.instance_id, "local-hostname": spec.hostname}
    if spec.ssh_keys:
        meta["public-keys"] = list(spec.ssh_keys)
    meta.update(spec.extra_meta)
    if spec.user_data is not None:
        user_data = spec.user_data
    else:
        cloud_config: dict[str, Any] = {"hostname": spec.hostname}
        if spec.ssh_keys:
            cloud_config["ssh_authorized_keys"] = list(spec.ssh_keys)
        user_data = "#cloud-config\n" + _dump(cloud_config)
    network = {
        "version": 2,
        "ethernets": {f"eth{i}": _ethernet(n, f"eth{i}") for i, n in enumerate(spec.networks)},
    }
    return {"meta-data": _dump(meta), "user-data": user_data, "network-config": _dump(network)}


def build(spec: ConfigDriveSpec, path: Path) -> Path:
    """Write the ISO at ``path`` (blocking: run it off the event loop)."""
    files = render(spec)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".cidata-", dir=path.parent) as staging:
            root = Path(staging) / "root"
            root.mkdir()
            for name, text in files.items():
                (root / name).write_text(text, encoding="utf-8")
            partial = Path(staging) / "drive.iso"
            argv = ["genisoimage", "-quiet", "-output", str(partial), "-volid", VOLUME_LABEL]
            argv += ["-joliet", "-rock", str(root)]
            subprocess.run(
                argv, capture_output=True, text=True, timeout=GENISOIMAGE_TIMEOUT, check=True
            )
            partial.chmod(0o600)  # user data: readable by the agent's user (and root's QEMU) only
            partial.replace(path)
    except (OSError, subprocess.SubprocessError) as exc:
        raise translate(exc, "build the config drive of", spec.instance_id, [path]) from exc
    return path
