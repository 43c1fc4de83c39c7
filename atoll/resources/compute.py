"""Servers, flavors and image references: what a site runs, how big, from which image."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Literal

from atoll.errors import Problem
from atoll.resources.fields import bounded
from atoll.resources.model import ID, ID_HINT, SHA256, Model, at, no_extra

RestartPolicy = Literal["always", "on-failure", "never"]
Power = Literal["running", "stopped"]
VnicType = Literal["normal", "direct"]  # a tap on OVS, or an SR-IOV VF
DiskFormat = Literal["qcow2", "raw", "aki", "ari"]
MAX_USER_DATA = 65536
MAX_NICS = 8


@dataclasses.dataclass(frozen=True, kw_only=True)
class NicSpec(Model):
    """One NIC of a server: the network (id or name), an optional fixed IP, the vNIC type."""

    WHAT = "NIC"
    network: str = bounded(low=1, high=64)
    fixed_ip: str | None = None
    vnic_type: VnicType = "normal"

    def problems(self, where: str) -> list[Problem]:
        if self.fixed_ip is None:
            return []
        try:
            ipaddress.ip_address(self.fixed_ip)
        except ValueError:
            return [Problem(at(where, "fixed_ip"), f"{self.fixed_ip!r} is not an IP address")]
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServerSpec(Model):
    """What should run: a flavor, a root image (or a kernel to boot directly), NICs, volumes.

    ``reboots`` and ``rebuilds`` are counters: raising one asks for one more reboot/rebuild,
    so the request is idempotent however often it is delivered. ``volumes`` are volume ids.
    """

    WHAT = "server spec"
    flavor: str = bounded(low=1, high=64)
    image: str | None = bounded(None, low=1, high=64)
    kernel: str | None = bounded(None, low=1, high=64)
    ramdisk: str | None = bounded(None, low=1, high=64)
    kernel_cmdline: str | None = bounded("console=ttyS0", high=1024)
    nics: tuple[NicSpec, ...] = bounded((), high=MAX_NICS)
    volumes: tuple[str, ...] = bounded((), high=16)
    ssh_keys: tuple[str, ...] = bounded((), high=32)
    user_data: str | None = bounded(None, high=MAX_USER_DATA, multiline=True)
    restart_policy: RestartPolicy = "on-failure"
    power: Power = "running"
    reboots: int = bounded(0, low=0)
    reboot_hard: bool = False  # how the latest reboot asked for is done
    rebuilds: int = bounded(0, low=0)
    # Filled in by the site when it accepts the server: the ports it made for ``nics`` (in
    # NIC order), and the flavor's size at that moment (a server keeps its size when the
    # flavor changes later, as Nova embeds the flavor in the instance).
    ports: tuple[str, ...] = bounded((), high=MAX_NICS)
    vcpus: int | None = bounded(None, low=1, high=256)
    ram_mb: int | None = bounded(None, low=16, high=4 * 1024 * 1024)

    def problems(self, where: str) -> list[Problem]:
        if self.image is None and self.kernel is None:
            return [Problem(at(where, "image"), "is required (or a kernel to boot directly)")]
        if self.ramdisk is not None and self.kernel is None:
            return [Problem(at(where, "ramdisk"), "needs a kernel")]
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class AddressFact(Model):
    """One NIC as the site made it."""

    WHAT = "address"
    network: str = bounded(low=1, high=64)
    port: str = bounded(low=1, high=64)
    mac: str = bounded(high=64)
    ip: str | None = bounded(None, high=64)
    vnic_type: VnicType = "normal"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServerFacts(Model):
    """What a server looks like at the site, besides its state."""

    WHAT = "server facts"
    power_state: str = bounded("", high=32)  # as the hypervisor says it: running, shutoff...
    restarts: int = bounded(0, low=0)
    addresses: tuple[AddressFact, ...] = bounded((), high=MAX_NICS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlavorExtras(Model):
    """The telco extras of a flavor (pinned CPUs, hugepages, NUMA, SR-IOV ports)."""

    WHAT = "flavor extra specs"
    dedicated_cpus: bool = False
    hugepages: Literal["none", "2M", "1G"] = "none"
    numa_nodes: int = bounded(1, low=1, high=8)
    sriov_ports: int = bounded(0, low=0, high=MAX_NICS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlavorSpec(Model):
    """How big a server is."""

    WHAT = "flavor spec"
    vcpus: int = bounded(low=1, high=256)
    ram_mb: int = bounded(low=16, high=4 * 1024 * 1024)
    disk_gb: int = bounded(0, low=0, high=65536)
    extra_specs: FlavorExtras = dataclasses.field(default_factory=FlavorExtras)

    def problems(self, where: str) -> list[Problem]:
        out: list[Problem] = []
        page = {"none": 0, "2M": 2, "1G": 1024}[self.extra_specs.hugepages]
        if page and self.ram_mb % page:
            out.append(Problem(at(where, "ram_mb"), f"must be a multiple of the {page} MiB page"))
        if self.extra_specs.numa_nodes > self.vcpus:
            out.append(Problem(at(where, "extra_specs.numa_nodes"), "cannot exceed vcpus"))
        elif self.vcpus % self.extra_specs.numa_nodes:
            out.append(Problem(at(where, "vcpus"), "must split evenly over the NUMA nodes"))
        return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageRef(Model):
    """An image a site needs: the hub's catalog id, what it is, and how to check its bytes."""

    WHAT = "image reference"
    id: str = bounded(pattern=ID, hint=ID_HINT)
    name: str | None = bounded(None, high=255)
    disk_format: DiskFormat = "qcow2"
    sha256: str | None = bounded(None, pattern=SHA256, hint="must be 64 lowercase hex digits")
    size: int | None = bounded(None, low=0)
    kernel_id: str | None = bounded(None, pattern=ID, hint=ID_HINT)
    ramdisk_id: str | None = bounded(None, pattern=ID, hint=ID_HINT)
    properties: Mapping[str, str] = dataclasses.field(default_factory=no_extra)
