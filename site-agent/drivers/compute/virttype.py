"""Choosing the libvirt domain type: ``kvm`` (hardware) or ``qemu`` (TCG, emulation).

``auto`` picks ``kvm`` only when all of these hold, and ``qemu`` otherwise:

1. ``/dev/kvm`` exists and can be opened read-write;
2. the CPU advertises hardware virtualization (``vmx`` or ``svm`` in ``/proc/cpuinfo``);
3. the KVM in this kernel is not PVM (``/sys/module/kvm_pvm`` absent).

Why the last two: the machines this project runs on are themselves guests with a
PVM-backed ``/dev/kvm`` (no ``vmx``/``svm`` flags, ``kvm_pvm`` loaded). ``/dev/kvm`` opens
fine there, but standard guest kernels hang under it, so its mere presence is not proof
that KVM guests will run. A host with real VT-x/AMD-V and the ordinary kvm_intel/kvm_amd
modules passes all three checks. Set ``virt_type = "kvm"`` to override the probe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from atoll.site_agent.drivers.compute.base import VirtType

Resolved = Literal["kvm", "qemu"]


@dataclass(frozen=True)
class HostProbe:
    """Where the probe looks; tests point it at a temporary tree."""

    dev_kvm: Path = Path("/dev/kvm")
    cpuinfo: Path = Path("/proc/cpuinfo")
    sys_module: Path = Path("/sys/module")


def _cpu_flags(cpuinfo: Path) -> set[str]:
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def _kvm_usable(dev_kvm: Path) -> bool:
    try:
        fd = os.open(dev_kvm, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def why_not_kvm(probe: HostProbe) -> str | None:
    """The reason ``auto`` would not pick kvm, or None when kvm looks usable."""
    if not _kvm_usable(probe.dev_kvm):
        return f"{probe.dev_kvm} is missing or cannot be opened"
    if not _cpu_flags(probe.cpuinfo) & {"vmx", "svm"}:
        return "the CPU advertises no vmx/svm (nested or paravirtual KVM)"
    if (probe.sys_module / "kvm_pvm").exists():
        return "KVM here is PVM (kvm_pvm loaded): standard guest kernels hang under it"
    return None


def resolve(setting: VirtType, probe: HostProbe | None = None) -> Resolved:
    """The domain type to use for ``setting``."""
    if setting != "auto":
        return setting
    return "kvm" if why_not_kvm(probe or HostProbe()) is None else "qemu"
