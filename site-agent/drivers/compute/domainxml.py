"""Rendering a :class:`DomainSpec` as libvirt domain XML, and reading our marks back.

Every domain the agent makes has the server id as its UUID (as Nova makes the instance
UUID the domain's, so ``virsh dominfo SERVER_ID`` works), the server's name as its
``<title>``, and, in ``<metadata>``, an element in the atoll namespace with the server id
and display name, then what Nova's ``nova:instance`` element says about an instance (from
:class:`~.base.InstanceInfo`; sizes in MiB)::

    <atoll:server xmlns:atoll="https://atoll.dev/xmlns/libvirt/server/1">
      <atoll:id>SERVER_ID</atoll:id><atoll:name>NAME</atoll:name>
      <atoll:creationTime>2026-11-30 23:00:00</atoll:creationTime>
      <atoll:flavor name="m1.small"><atoll:memory>2048</atoll:memory>
        <atoll:vcpus>1</atoll:vcpus></atoll:flavor>
      <atoll:owner><atoll:project uuid="PROJECT_ID"/><atoll:origin>hub</atoll:origin></atoll:owner>
      <atoll:root type="image" uuid="IMAGE"/>
      <atoll:ports><atoll:port uuid="PORT_ID" network="NETWORK_ID" mac="fa:16:3e:..">
        <atoll:ip type="fixed" address="10.0.0.5" ipVersion="4"/></atoll:port></atoll:ports>
    </atoll:server>

The element (its namespace and id), not the domain name, is what proves a domain is ours;
domains made before the Nova-style children were added carry only id and name.

Disks are virtio, in this order: the boot disk (``vda``), the extra disks, then the config
drive (a read-only raw disk holding the ISO; guests find it by its ``cidata`` label, since
they name disks in probe order, not by libvirt's ``<target dev>``). NICs are
``<interface type='ethernet'>`` on a tap the network driver made (``managed='no'``: libvirt
neither creates nor deletes it) or ``<interface type='hostdev'>`` for an SR-IOV VF. The
serial console goes to a file when the spec names one.
"""

from __future__ import annotations

import ipaddress
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from atoll.site_agent.drivers.compute.base import (
    DiskBoot,
    DiskSpec,
    DomainSpec,
    InstanceInfo,
    NicSpec,
)

NS = "https://atoll.dev/xmlns/libvirt/server/1"
NS_PREFIX = "atoll"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _disk(devices: ET.Element, target: str, disk: DiskSpec) -> None:
    element = _sub(devices, "disk", type="file", device="disk")
    _sub(element, "driver", name="qemu", type=disk.format)
    _sub(element, "source", file=str(disk.path))
    _sub(element, "target", dev=target, bus="virtio")
    if disk.read_only:
        _sub(element, "readonly")
    if disk.volume_id:
        _sub(element, "serial", disk.volume_id[:20])


def _nic(devices: ET.Element, nic: NicSpec) -> None:
    if nic.hostdev_pci is not None:
        element = _sub(devices, "interface", type="hostdev", managed="yes")
        _sub(element, "mac", address=nic.mac)
        dom, bus, rest = nic.hostdev_pci.split(":")
        slot, function = rest.split(".")
        source = _sub(element, "source")
        _sub(
            source,
            "address",
            type="pci",
            domain=f"0x{dom}",
            bus=f"0x{bus}",
            slot=f"0x{slot}",
            function=f"0x{function}",
        )
        if nic.vlan is not None:
            _sub(_sub(element, "vlan"), "tag", id=str(nic.vlan))
    else:
        element = _sub(devices, "interface", type="ethernet")
        _sub(element, "mac", address=nic.mac)
        _sub(element, "target", dev=str(nic.tap), managed="no")
        _sub(element, "model", type="virtio")
    if nic.mtu:
        _sub(element, "mtu", size=str(nic.mtu))


def _disks(spec: DomainSpec) -> list[DiskSpec]:
    boot = spec.boot
    disks: list[DiskSpec] = []
    if isinstance(boot, DiskBoot):
        disks.append(DiskSpec(boot.path, boot.format))
    elif boot.root_disk is not None:
        disks.append(DiskSpec(boot.root_disk, boot.root_format))
    disks += spec.disks
    if spec.config_drive is not None:
        disks.append(DiskSpec(spec.config_drive, "raw", read_only=True))
    return disks


def _os(root: ET.Element, spec: DomainSpec, machine: str) -> None:
    os_el = _sub(root, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine=machine)
    boot = spec.boot
    if isinstance(boot, DiskBoot):
        _sub(os_el, "boot", dev="hd")
    else:
        _sub(os_el, "kernel", str(boot.kernel))
        if boot.initrd is not None:
            _sub(os_el, "initrd", str(boot.initrd))
        if boot.cmdline:
            _sub(os_el, "cmdline", boot.cmdline)


def _metadata(parent: ET.Element, spec: DomainSpec) -> None:
    meta = _sub(parent, f"{NS_PREFIX}:server", **{f"xmlns:{NS_PREFIX}": NS})

    def sub(under: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        return _sub(under, f"{NS_PREFIX}:{tag}", text, **attrs)

    info: InstanceInfo = spec.info
    sub(meta, "id", spec.server_id)
    sub(meta, "name", spec.name)
    if info.created_at is not None:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(info.created_at))
        sub(meta, "creationTime", created)
    flavor = sub(meta, "flavor", name=info.flavor)
    sub(flavor, "memory", str(spec.ram_mb))
    sub(flavor, "vcpus", str(spec.vcpus))
    owner = sub(meta, "owner")
    if info.project_id:
        sub(owner, "project", uuid=info.project_id)
    if info.origin:
        sub(owner, "origin", info.origin)
    if info.image:
        sub(meta, "root", type="image", uuid=info.image)
    ports = sub(meta, "ports")
    for port in info.ports:
        element = sub(ports, "port", uuid=port.port_id, network=port.network_id, mac=port.mac)
        for address in port.ips:
            version = str(ipaddress.ip_address(address.split("/")[0]).version)
            sub(element, "ip", type="fixed", address=address, ipVersion=version)


def render(
    spec: DomainSpec, domain_name: str, virt_type: str, machine: str = "pc", uuid: str = ""
) -> str:
    """The domain XML for ``spec`` (values are escaped by ElementTree).

    Pass the existing domain's ``uuid`` to redefine it (libvirt matches by name and uuid).
    """
    root = ET.Element("domain", type=virt_type)
    _sub(root, "name", domain_name)
    if uuid:
        _sub(root, "uuid", uuid)
    _sub(root, "title", spec.name)
    _metadata(_sub(root, "metadata"), spec)
    _sub(root, "memory", str(spec.ram_mb), unit="MiB")
    _sub(root, "vcpu", str(spec.vcpus))
    _os(root, spec, machine)
    features = _sub(root, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if virt_type == "kvm":
        _sub(root, "cpu", mode="host-passthrough")
    _sub(root, "clock", offset="utc")
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "restart")
    _sub(root, "on_crash", "destroy")
    devices = _sub(root, "devices")
    for i, disk in enumerate(_disks(spec)):
        _disk(devices, "vd" + chr(ord("a") + i), disk)
    for nic in spec.nics:
        _nic(devices, nic)
    if spec.console_log is not None:
        serial = _sub(devices, "serial", type="file")
        _sub(serial, "source", path=str(spec.console_log), append="on")
        _sub(serial, "target", port="0")
    else:
        _sub(_sub(devices, "serial", type="pty"), "target", port="0")
    _sub(devices, "memballoon", model="virtio")
    return ET.tostring(root, encoding="unicode")


def parse_metadata(text: str) -> tuple[str, str] | None:
    """(server id, display name) from our metadata element, or None if it is not ours.

    ``virDomainGetMetadata`` returns the element with its namespace stripped (the caller
    asked by namespace, so that proves it is ours); the whole domain XML has it qualified.
    """
    try:
        root = ET.fromstring(text)  # noqa: S314 (libvirtd's own XML)
    except ET.ParseError:
        return None
    ns = f"{{{NS}}}" if root.tag.startswith("{") else ""
    if root.tag != f"{ns}server":
        return None
    server_id = root.findtext(f"{ns}id")
    if not server_id:
        return None
    return server_id, root.findtext(f"{ns}name") or ""


def owner_of(domain_xml: str) -> tuple[str, str] | None:
    """(server id, display name) from a whole domain XML, or None if it is not ours."""
    try:
        root = ET.fromstring(domain_xml)  # noqa: S314 (libvirtd's own XML)
    except ET.ParseError:
        return None
    element = root.find(f"metadata/{{{NS}}}server")
    return None if element is None else parse_metadata(ET.tostring(element, encoding="unicode"))


def console_path(domain_xml: str) -> Path | None:
    """The file the first serial port writes to, if it writes to one."""
    root = ET.fromstring(domain_xml)  # noqa: S314 (libvirtd's own XML)
    for serial in root.findall("devices/serial"):
        if serial.get("type") == "file":
            source = serial.find("source")
            if source is not None and source.get("path"):
                return Path(str(source.get("path")))
    return None


def start_requirements(domain_xml: str) -> tuple[list[str], list[Path]]:
    """(tap names, files) a domain needs on the host to start."""
    root = ET.fromstring(domain_xml)  # noqa: S314 (libvirtd's own XML)
    taps = [
        str(target.get("dev"))
        for target in root.findall("devices/interface[@type='ethernet']/target")
        if target.get("dev")
    ]
    files = [
        Path(str(source.get("file")))
        for source in root.findall("devices/disk/source")
        if source.get("file")
    ]
    files += [Path(str(e.text)) for e in root.findall("os/kernel") + root.findall("os/initrd")]
    return taps, files


def host_files(domain_xml: str) -> list[Path]:
    """Every host file a domain names (disks, kernel, initrd, console log): what libvirt's
    and QEMU's errors about it may name."""
    files = start_requirements(domain_xml)[1]
    console = console_path(domain_xml)
    return files if console is None else [*files, console]


def disk_device(disk: DiskSpec, target: str) -> str:
    """One ``<disk>`` element, for hot-plugging a volume."""
    holder = ET.Element("devices")
    _disk(holder, target, disk)
    return ET.tostring(holder[0], encoding="unicode")


def attached_disks(domain_xml: str) -> dict[Path, str]:
    """Disk files of a domain and the target each is on (``vda``, ``vdb``, ...)."""
    root = ET.fromstring(domain_xml)  # noqa: S314 (libvirtd's own XML)
    result: dict[Path, str] = {}
    for disk in root.findall("devices/disk"):
        source, target = disk.find("source"), disk.find("target")
        if source is not None and target is not None and source.get("file"):
            result[Path(str(source.get("file")))] = str(target.get("dev"))
    return result


def free_target(domain_xml: str) -> str:
    """The first virtio target name no disk of the domain uses."""
    used = set(attached_disks(domain_xml).values())
    for i in range(26):
        name = "vd" + chr(ord("a") + i)
        if name not in used:
            return name
    raise ValueError("all 26 virtio disk targets are in use")
