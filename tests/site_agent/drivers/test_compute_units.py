"""Pure pieces of the compute driver: domain XML, virt type probe, error and event mapping."""

from __future__ import annotations

import dataclasses
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll.site_agent.drivers.compute import domainstats, domainxml, events, virttype
from atoll.site_agent.drivers.compute.base import (
    DiskBoot,
    DiskSpec,
    DomainSpec,
    DomainState,
    EventKind,
    InstanceInfo,
    KernelBoot,
    NicSpec,
    PortInfo,
)
from atoll.site_agent.drivers.compute.errors import (
    ComputePermanent,
    ComputeTemporary,
    DomainConflict,
    DomainNotFound,
    InvalidDomainSpec,
    translate,
)

SPEC = DomainSpec(
    "srv-1",
    "web <1> & co",
    2,
    256,
    DiskBoot(Path("/var/lib/atoll/disks/srv-1.qcow2")),
    disks=(DiskSpec(Path("/v/vol-1.qcow2"), volume_id="vol-1"),),
    nics=(
        NicSpec("52:54:00:00:00:01", tap="tap0a1b2c3d"),
        NicSpec("52:54:00:00:00:02", hostdev_pci="0000:03:10.1", vlan=100),
    ),
    config_drive=Path("/d/srv-1.iso"),
    console_log=Path("/c/srv-1.log"),
)


def parsed(spec: DomainSpec = SPEC, virt_type: str = "qemu") -> ET.Element:
    return ET.fromstring(domainxml.render(spec, "atoll-srv-1", virt_type))  # noqa: S314


def test_domain_xml_has_disks_in_order_and_the_config_drive_read_only() -> None:
    root = parsed()
    assert root.get("type") == "qemu" and root.findtext("name") == "atoll-srv-1"
    disks = root.findall("devices/disk")
    assert [(d.find("target").get("dev"), d.find("source").get("file")) for d in disks] == [  # type: ignore[union-attr]
        ("vda", "/var/lib/atoll/disks/srv-1.qcow2"),
        ("vdb", "/v/vol-1.qcow2"),
        ("vdc", "/d/srv-1.iso"),
    ]
    assert disks[2].find("readonly") is not None and disks[2].find("driver").get("type") == "raw"  # type: ignore[union-attr]
    assert disks[1].findtext("serial") == "vol-1"
    assert root.find("devices/serial/source").get("path") == "/c/srv-1.log"  # type: ignore[union-attr]
    assert root.findtext("memory") == "256" and root.findtext("vcpu") == "2"


def test_title_and_nova_style_metadata_describe_the_server() -> None:
    info = InstanceInfo(
        flavor="m1.small", project_id="p" * 32, origin="hub", created_at=0.5, image="cirros",
        ports=(PortInfo("port-1", "net-1", "52:54:00:00:00:01", ("10.0.0.5", "fd00::5")),),
    )  # fmt: skip
    root = parsed(dataclasses.replace(SPEC, info=info))
    assert root.findtext("title") == "web <1> & co"
    meta = root.find(f"metadata/{{{domainxml.NS}}}server")
    assert meta is not None

    def text(path: str) -> str | None:
        return meta.findtext("/".join(f"{{{domainxml.NS}}}{p}" for p in path.split("/")))

    assert text("creationTime") == "1970-01-01 00:00:00"
    assert (text("flavor/memory"), text("flavor/vcpus")) == ("256", "2")
    owner = meta.find(f"{{{domainxml.NS}}}owner/{{{domainxml.NS}}}project")
    assert owner is not None and owner.get("uuid") == "p" * 32 and text("owner/origin") == "hub"
    ips = meta.findall(f".//{{{domainxml.NS}}}port/{{{domainxml.NS}}}ip")
    assert [(ip.get("address"), ip.get("ipVersion")) for ip in ips] == [
        ("10.0.0.5", "4"),
        ("fd00::5", "6"),
    ]
    xml = domainxml.render(dataclasses.replace(SPEC, info=info), "atoll-srv-1", "qemu")
    assert domainxml.owner_of(xml) == ("srv-1", "web <1> & co")  # still proves it is ours


def test_nics_are_unmanaged_taps_or_hostdev_vfs() -> None:
    tap, vf = parsed().findall("devices/interface")
    assert tap.get("type") == "ethernet"
    assert tap.find("target").attrib == {"dev": "tap0a1b2c3d", "managed": "no"}  # type: ignore[union-attr]
    assert tap.find("mac").get("address") == "52:54:00:00:00:01"  # type: ignore[union-attr]
    assert vf.get("type") == "hostdev" and vf.get("managed") == "yes"
    assert vf.find("source/address").attrib == {  # type: ignore[union-attr]
        "type": "pci",
        "domain": "0x0000",
        "bus": "0x03",
        "slot": "0x10",
        "function": "0x1",
    }
    assert vf.find("vlan/tag").get("id") == "100"  # type: ignore[union-attr]


def test_direct_kernel_boot_and_kvm() -> None:
    spec = DomainSpec(
        "k", "k", 1, 64, KernelBoot(Path("/k/vmlinuz"), Path("/k/initrd"), "console=ttyS0")
    )
    root = parsed(spec, "kvm")
    assert root.get("type") == "kvm" and root.find("cpu").get("mode") == "host-passthrough"  # type: ignore[union-attr]
    assert (
        root.findtext("os/kernel"),
        root.findtext("os/initrd"),
        root.findtext("os/cmdline"),
    ) == (
        "/k/vmlinuz",
        "/k/initrd",
        "console=ttyS0",
    )
    assert root.findall("devices/disk") == []


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80))
def test_ownership_metadata_round_trips_any_display_name(name: str) -> None:
    spec = DomainSpec("srv-9", name, 1, 64, DiskBoot(Path("/d")))
    assert domainxml.owner_of(domainxml.render(spec, "x-srv-9", "qemu")) == ("srv-9", name)


def test_metadata_without_our_namespace_is_not_ours() -> None:
    assert domainxml.owner_of("<domain><metadata><other/></metadata></domain>") is None
    assert domainxml.parse_metadata("<server><name>x</name></server>") is None
    assert domainxml.parse_metadata("not xml") is None


@pytest.mark.parametrize(
    ("flags", "pvm", "expected"),
    [
        ("fpu vmx sse", False, "kvm"),
        ("fpu svm sse", False, "kvm"),
        ("fpu sse hypervisor", True, "qemu"),  # these machines: PVM, no vmx/svm
        ("fpu vmx sse", True, "qemu"),
        ("fpu sse", False, "qemu"),
    ],
)
def test_auto_probe(tmp_path: Path, flags: str, pvm: bool, expected: str) -> None:
    dev = tmp_path / "kvm"
    dev.write_text("")
    (tmp_path / "cpuinfo").write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    modules = tmp_path / "module"
    modules.mkdir()
    if pvm:
        (modules / "kvm_pvm").mkdir()
    probe = virttype.HostProbe(dev, tmp_path / "cpuinfo", modules)
    assert virttype.resolve("auto", probe) == expected
    assert virttype.resolve("qemu", probe) == "qemu" and virttype.resolve("kvm", probe) == "kvm"


def test_auto_probe_without_dev_kvm(tmp_path: Path) -> None:
    probe = virttype.HostProbe(tmp_path / "missing", tmp_path / "cpuinfo", tmp_path)
    assert virttype.resolve("auto", probe) == "qemu"
    assert "missing" in str(virttype.why_not_kvm(probe))


def libvirt_error(code: int, message: str) -> libvirt.libvirtError:
    exc = libvirt.libvirtError(message)
    exc.err = (code, 0, message, 2, "", None, None, 0, 0)
    return exc


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (libvirt.VIR_ERR_NO_DOMAIN, "no domain", DomainNotFound),
        (libvirt.VIR_ERR_OPERATION_INVALID, "domain is not running", DomainConflict),
        (libvirt.VIR_ERR_OPERATION_FAILED, "domain 'x' already exists", DomainConflict),
        (libvirt.VIR_ERR_XML_ERROR, "bad xml", InvalidDomainSpec),
        (libvirt.VIR_ERR_NO_CONNECT, "no connection", ComputeTemporary),
        (libvirt.VIR_ERR_SYSTEM_ERROR, "Cannot recv data", ComputeTemporary),
        (libvirt.VIR_ERR_OPERATION_FAILED, "qemu died", ComputePermanent),
    ],
)
def test_libvirt_errors_translate_to_what_a_caller_can_do(
    code: int, message: str, expected: type[Exception]
) -> None:
    error = translate(libvirt_error(code, message), "start", "srv-1")
    assert isinstance(error, expected)
    assert str(error).startswith("libvirt could not start server srv-1: ")
    assert message in str(error)
    assert error.retryable == isinstance(error, ComputeTemporary)


ROOT = "/var/lib/atoll site/agent"  # a space in it: tools print paths unquoted


@pytest.mark.parametrize(
    ("code", "said", "expected", "shown"),
    [
        (
            libvirt.VIR_ERR_SYSTEM_ERROR,
            f"Cannot access storage file '{ROOT}/storage/disks/s1.qcow2' (as uid:107): denied",
            ComputeTemporary,
            "Cannot access storage file 's1.qcow2' (as uid:107): denied",
        ),
        (
            libvirt.VIR_ERR_INTERNAL_ERROR,
            "qemu unexpectedly closed the monitor: qemu: could not load kernel "
            f"'{ROOT}/storage/images/k.raw': No such file or directory",
            ComputePermanent,
            "qemu unexpectedly closed the monitor: qemu: could not load kernel 'k.raw': "
            "No such file or directory",
        ),
        (
            libvirt.VIR_ERR_OPERATION_FAILED,
            f"unable to open {ROOT}/instances/s1/console.log: No space left on device",
            ComputePermanent,
            "unable to open console.log: No space left on device",
        ),
    ],
)
def test_libvirt_s_host_paths_are_cut_to_file_names_and_kept_for_the_log(
    code: int, said: str, expected: type[Exception], shown: str
) -> None:
    console = Path(ROOT) / "instances" / "s1" / "console.log"
    error = translate(libvirt_error(code, said), "start", "s1", [console])
    assert isinstance(error, expected)
    assert error.message == f"libvirt could not start server s1: {shown}"
    assert error.on_host == f"libvirt could not start server s1: {said}"


def test_a_message_without_a_path_keeps_nothing_for_the_log() -> None:
    assert translate(libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, "no domain"), "read").on_host == ""


def test_a_tool_or_a_file_that_failed_is_permanent_and_names_no_path() -> None:
    staging = f"{ROOT}/instances/s1/.cidata-x1"
    argv = ["genisoimage", "-output", f"{staging}/drive.iso", "-joliet", f"{staging}/root"]
    stderr = f"genisoimage: Unable to open {staging}/root/user-data\nAborting.\n"
    failed = translate(subprocess.CalledProcessError(255, argv, "", stderr), "build x of", "s1")
    assert isinstance(failed, ComputePermanent)
    assert failed.message == (
        "could not build x of server s1: genisoimage failed: Unable to open root/user-data; "
        "Aborting."
    )
    assert staging in failed.on_host
    slow = translate(subprocess.TimeoutExpired(argv, 60.0), "build x of", "s1")
    assert slow.message == "could not build x of server s1: genisoimage took longer than 60 s"
    full = translate(OSError(28, "No space left on device", f"{staging}/root"), "build x of", "s1")
    assert full.message == "could not build x of server s1: No space left on device"
    assert ROOT in full.on_host
    assert ROOT not in translate(FileNotFoundError(2, "gone", "genisoimage"), "run").message


def test_event_and_state_numbers() -> None:
    assert events.describe(libvirt.VIR_DOMAIN_EVENT_STOPPED, 2) == (
        EventKind.STOPPED,
        DomainState.SHUTOFF,
        "crashed",
    )
    assert events.describe(99, 0)[0] == EventKind.OTHER
    assert events.state_of(libvirt.VIR_DOMAIN_SHUTOFF, 2) == (DomainState.SHUTOFF, "destroyed")
    assert events.state_of(libvirt.VIR_DOMAIN_RUNNING, 1) == (DomainState.RUNNING, "booted")


def test_bulk_stats_record_parses() -> None:
    record = {
        "cpu.time": 5_000,
        "vcpu.current": 2,
        "balloon.current": 262144,
        "balloon.rss": 100000,
        "net.count": 1,
        "net.0.name": "tap0",
        "net.0.rx.bytes": 10,
        "net.0.rx.pkts": 1,
        "net.0.tx.bytes": 20,
        "net.0.tx.pkts": 2,
        "block.count": 1,
        "block.0.name": "vda",
        "block.0.path": "/d",
        "block.0.rd.bytes": 512,
        "block.0.rd.reqs": 1,
        "block.0.wr.bytes": 1024,
        "block.0.wr.reqs": 2,
    }
    stats = domainstats.parse("s", DomainState.RUNNING, record)
    assert (stats.cpu_time_ns, stats.vcpus, stats.memory_kib, stats.memory_rss_kib) == (
        5000,
        2,
        262144,
        100000,
    )
    nic, disk = stats.nics[0], stats.disks[0]
    assert (nic.device, nic.rx_bytes, nic.rx_packets, nic.tx_bytes, nic.tx_packets) == (
        "tap0",
        10,
        1,
        20,
        2,
    )
    assert (disk.device, disk.read_bytes, disk.write_bytes, disk.write_requests) == (
        "vda",
        512,
        1024,
        2,
    )
    assert domainstats.parse("s", DomainState.SHUTOFF, {}).nics == ()
