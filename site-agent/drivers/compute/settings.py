"""Settings of the libvirt compute driver (section ``[compute]``, env ``ATOLL_COMPUTE_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from atoll.site_agent.drivers.compute.base import VirtType


@dataclass(frozen=True)
class LibvirtSettings:
    uri: str = "qemu:///system"
    # ``auto`` probes the host (see ``virttype.py``); on PVM hosts it picks ``qemu`` (TCG).
    virt_type: VirtType = "auto"
    # Domains are named ``<name_prefix><server_id>``; the prefix keeps several agents (and
    # tests) on one host apart, and the atoll metadata element proves ownership.
    name_prefix: str = "atoll-"
    # Seconds a guest gets to power off after ACPI before it is forced off.
    shutdown_timeout: float = 60.0
    machine: str = "pc"
    # Threads for blocking libvirt calls (the connection itself is thread-safe).
    workers: int = 4
