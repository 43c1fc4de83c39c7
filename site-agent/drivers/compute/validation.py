"""Checks of a :class:`DomainSpec` before anything is made, shared by every compute driver.

All problems are reported together in one :class:`~.errors.InvalidDomainSpec`, each with
where it is in the spec (``spec.nics[1].mac``) and what is wrong there; a file by its name,
never its host path (see :mod:`~.errors`).
"""

from __future__ import annotations

import re
from pathlib import Path

from atoll.errors import Problem
from atoll.site_agent.drivers.compute.base import DiskBoot, DomainSpec
from atoll.site_agent.drivers.compute.errors import InvalidDomainSpec

SERVER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
PCI = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
TAP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")  # IFNAMSIZ: 15 characters
MIN_RAM_MB = 16


def check_server_id(server_id: str, where: str = "server_id") -> list[Problem]:
    if SERVER_ID.match(server_id):
        return []
    return [Problem(where, f"{server_id!r} is not a valid id (letters, digits, . _ -; 1-64)")]


def _check_path(path: Path | None, where: str, check_paths: bool) -> list[Problem]:
    if path is None or not check_paths:
        return []
    if not path.is_file():
        return [Problem(where, f"{path.name} does not exist or is not a file")]
    return []


def _check_boot(spec: DomainSpec, check_paths: bool) -> list[Problem]:
    boot = spec.boot
    if isinstance(boot, DiskBoot):
        return _check_path(boot.path, "spec.boot.path", check_paths)
    return (
        _check_path(boot.kernel, "spec.boot.kernel", check_paths)
        + _check_path(boot.initrd, "spec.boot.initrd", check_paths)
        + _check_path(boot.root_disk, "spec.boot.root_disk", check_paths)
    )


def _check_nics(spec: DomainSpec) -> list[Problem]:
    problems: list[Problem] = []
    seen_macs: set[str] = set()
    seen_taps: set[str] = set()
    for i, nic in enumerate(spec.nics):
        where = f"spec.nics[{i}]"
        if not MAC.match(nic.mac):
            problems.append(Problem(f"{where}.mac", f"{nic.mac!r} is not a lowercase MAC"))
        elif nic.mac in seen_macs:
            problems.append(Problem(f"{where}.mac", f"{nic.mac} is used by another NIC"))
        seen_macs.add(nic.mac)
        if (nic.tap is None) == (nic.hostdev_pci is None):
            problems.append(Problem(where, "set exactly one of tap and hostdev_pci"))
        if nic.tap is not None:
            if not TAP.match(nic.tap):
                problems.append(Problem(f"{where}.tap", f"{nic.tap!r} is not a device name"))
            elif nic.tap in seen_taps:
                problems.append(Problem(f"{where}.tap", f"{nic.tap} is used by another NIC"))
            seen_taps.add(nic.tap)
            if nic.vlan is not None:
                problems.append(Problem(f"{where}.vlan", "a tap's VLAN is set on its OVS port"))
        if nic.hostdev_pci is not None and not PCI.match(nic.hostdev_pci):
            problems.append(
                Problem(f"{where}.hostdev_pci", f"{nic.hostdev_pci!r} is not DDDD:BB:SS.F")
            )
        if nic.vlan is not None and not 1 <= nic.vlan <= 4094:
            problems.append(Problem(f"{where}.vlan", f"{nic.vlan} is not in 1..4094"))
    return problems


def check_spec(spec: DomainSpec, *, check_paths: bool) -> None:
    """Raise InvalidDomainSpec listing every problem of ``spec``; ``check_paths`` stats files."""
    problems = check_server_id(spec.server_id, "spec.server_id")
    if not spec.name.strip():
        problems.append(Problem("spec.name", "must not be empty"))
    if spec.vcpus < 1:
        problems.append(Problem("spec.vcpus", f"{spec.vcpus} is not a positive count"))
    if spec.ram_mb < MIN_RAM_MB:
        problems.append(Problem("spec.ram_mb", f"{spec.ram_mb} is below {MIN_RAM_MB} MiB"))
    problems += _check_boot(spec, check_paths)
    for i, disk in enumerate(spec.disks):
        problems += _check_path(disk.path, f"spec.disks[{i}].path", check_paths)
    problems += _check_path(spec.config_drive, "spec.config_drive", check_paths)
    problems += _check_nics(spec)
    if spec.console_log is not None and check_paths and not spec.console_log.parent.is_dir():
        problems.append(
            Problem("spec.console_log", f"the directory for {spec.console_log.name} does not exist")
        )
    if problems:
        raise InvalidDomainSpec(f"server {spec.server_id}: the spec cannot run", problems)
