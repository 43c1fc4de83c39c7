"""Boot the reference image under TCG with libvirt on a host tap, and talk to it.

Used by the reference image test and by ``bench/bench_images.py``. The guest gets one
virtio NIC on a tap (``at-`` prefix, so a killed run's leftovers are swept) whose host side
holds ``.1`` of a random /24; the guest takes ``.2`` from its config drive.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import libvirt

from atoll.images.reference.builder import READY_MARKER, ReferenceImage
from atoll.site_agent.drivers.compute import configdrive
from atoll.site_agent.drivers.compute.base import ConfigDriveSpec, NetworkConfig
from atoll.testbed.services.netns import HostNetwork, ip, unique
from atoll.testbed.services.ovs import PrivateOVS


@dataclass(frozen=True)
class Guest:
    name: str
    address: str
    hostname: str
    instance_id: str
    console: Path
    started: float  # perf_counter at createXML


def config_drive(path: Path, hostname: str, instance_id: str, mac: str, cidr: str, gw: str) -> Path:
    """The drive the compute driver makes (its ``configdrive`` module: the real seam)."""
    net = NetworkConfig(mac=mac, addresses=(cidr,), gateway=gw, dns=("192.0.2.53",), mtu=1400)
    return configdrive.build(ConfigDriveSpec(instance_id, hostname, networks=(net,)), path)


def domain_xml(name: str, ref: ReferenceImage, iso: Path, tap: str, mac: str, log: Path) -> str:
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <features><acpi/><apic/></features>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{ref.kernel}</kernel><initrd>{ref.initramfs}</initrd>
    <cmdline>{ref.cmdline}</cmdline></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='{iso}'/><target dev='vda' bus='virtio'/><readonly/></disk>
    <interface type='ethernet'><mac address='{mac}'/>
      <target dev='{tap}' managed='no'/><model type='virtio'/><rom bar='off'/></interface>
    <serial type='file'><source path='{log}'/><target port='0'/></serial>
  </devices>
</domain>"""


def _host_side(net: HostNetwork, tap: str, cidr: str, ovs: PrivateOVS | None) -> None:
    """The host end: the tap itself, or an OVS netdev bridge holding the tap."""
    dev = tap
    if ovs is not None:
        dev = unique("at-o")
        ovs.vsctl("add-br", dev, "--", "set", "bridge", dev, "datapath_type=netdev")
        net.links.append(dev)
        ovs.vsctl("add-port", dev, tap)
        deadline = time.monotonic() + 30  # vswitchd makes the bridge's own port a moment later
        while not Path(f"/sys/class/net/{dev}").exists():
            if time.monotonic() > deadline:
                log = (ovs.base_dir / "log" / "ovs-vswitchd.log").read_text()[-1500:]
                raise TimeoutError(f"OVS made no host device for bridge {dev}; its log:\n{log}")
            time.sleep(0.05)
    ip("addr", "add", cidr, "dev", dev)
    for link in {tap, dev}:
        ip("link", "set", link, "up")
        subprocess.run(["ethtool", "-K", link, "tx", "off"], capture_output=True, check=False)


@contextlib.contextmanager
def boot(
    conn: libvirt.virConnect,
    ref: ReferenceImage,
    prefix: str,
    net: HostNetwork,
    tmp: Path,
    ovs: PrivateOVS | None = None,
) -> Iterator[Guest]:
    """Start a guest; the caller's ``domain_prefix``/``hostnet`` fixtures clean up."""
    tap = unique("at-t")
    ip("tuntap", "add", "dev", tap, "mode", "tap")
    net.links.append(tap)
    subnet = f"10.{secrets.randbelow(50) + 200}.{secrets.randbelow(256)}"
    _host_side(net, tap, f"{subnet}.1/24", ovs)
    mac = "52:54:00:" + ":".join(f"{secrets.randbelow(256):02x}" for _ in range(3))
    hostname, iid = f"vnf-{secrets.token_hex(2)}", f"i-{secrets.token_hex(4)}"
    iso = config_drive(tmp / "cidata.iso", hostname, iid, mac, f"{subnet}.2/24", f"{subnet}.1")
    console = tmp / "console.log"
    name = prefix + "ref"
    started = time.perf_counter()
    dom = conn.createXML(domain_xml(name, ref, iso, tap, mac, console), 0)
    try:
        yield Guest(name, f"{subnet}.2", hostname, iid, console, started)
    finally:
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()


def wait_http(guest: Guest, timeout: float = 60.0) -> tuple[float, str]:
    """Seconds from createXML to the first HTTP answer on port 80, and the body."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{guest.address}/", timeout=0.5) as resp:
                return time.perf_counter() - guest.started, resp.read().decode()
        except OSError:
            if time.perf_counter() > deadline:
                tail = guest.console.read_text(errors="replace")[-2000:]
                msg = f"no HTTP answer from {guest.address}; console:\n{tail}"
                raise TimeoutError(msg) from None
            time.sleep(0.05)


def udp_echo(guest: Guest, payload: bytes, timeout: float = 5.0) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        deadline = time.monotonic() + timeout
        while True:
            sock.sendto(payload, (guest.address, 7))
            try:
                return sock.recv(65536)
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise


def ready_line(guest: Guest) -> str:
    for line in guest.console.read_text(errors="replace").splitlines():
        if READY_MARKER in line:
            return line
    return ""
