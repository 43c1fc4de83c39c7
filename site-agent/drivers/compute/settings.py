"""Settings of the libvirt compute driver (section ``[compute]``, env ``ATOLL_COMPUTE_*``)."""

from __future__ import annotations

from dataclasses import dataclass

from atoll.site_agent.drivers.compute.base import VirtType


@dataclass(frozen=True)
class LibvirtSettings:
    uri: str = "qemu:///system"  # the libvirt connection
    # ``auto`` probes the host (see ``virttype.py``); on PVM hosts it picks ``qemu`` (TCG).
    virt_type: VirtType = "auto"
    # Domains are named ``<name_prefix><server_id>``; the prefix keeps several agents (and
    # tests) on one host apart, and the atoll metadata element proves ownership.
    name_prefix: str = "atoll-"
    # Seconds a guest gets to power off after ACPI before it is forced off.
    shutdown_timeout: float = 60.0
    # Start virtlogd + libvirtd when they are not running (``qemu:///`` URIs only).
    start_libvirtd: bool = True
    # Capacity: a server is refused at the API when it does not fit (as Nova's placement);
    # read by the agent's capacity check, not the driver. The disk ratio is ``[storage]``'s.
    cpu_allocation_ratio: float = 4.0  # vCPUs per host CPU
    ram_allocation_ratio: float = 1.0  # of the host's RAM less reserved_host_memory_mb
    reserved_host_memory_mb: int = 512  # kept for the host and the agent
    machine: str = "pc"  # the QEMU machine type of every domain
    # Threads for blocking libvirt calls (the connection itself is thread-safe).
    workers: int = 4
