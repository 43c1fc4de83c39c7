"""LibvirtCompute against the real system libvirtd, with TCG guests (tiny, quick)."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import libvirt
import pytest

from atoll.site_agent.drivers.compute.base import (
    ConfigDriveSpec,
    DiskBoot,
    DiskSpec,
    DomainEvent,
    DomainSpec,
    DomainState,
    EventKind,
    KernelBoot,
    NicSpec,
)
from atoll.site_agent.drivers.compute.errors import (
    ComputePermanent,
    ComputeTemporary,
    DomainConflict,
    DomainNotFound,
    InvalidDomainSpec,
)
from atoll.site_agent.drivers.compute.libvirt import LibvirtCompute
from atoll.site_agent.drivers.compute.settings import LibvirtSettings
from atoll.testbed.services import libvirtd
from tests.site_agent.drivers import tinyguest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def tiny_kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tinyguest.build(tmp_path_factory.mktemp("tinyguest"))


@pytest.fixture
async def compute(domain_prefix: str) -> AsyncIterator[LibvirtCompute]:
    driver = LibvirtCompute(LibvirtSettings(name_prefix=domain_prefix, shutdown_timeout=20))
    try:
        yield driver
    finally:
        await driver.close()


@pytest.fixture
def blank_qcow2(tmp_path: Path) -> Path:
    """A 1 MiB qcow2 with nothing on it (firmware alone: it ignores the power button)."""
    disk = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1M"], check=True)
    return disk


@pytest.fixture
def tap() -> Iterator[str]:
    name = f"atv{secrets.token_hex(4)}"
    subprocess.run(["ip", "tuntap", "add", "dev", name, "mode", "tap"], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def tiny(kernel: Path, tmp_path: Path, server_id: str = "s1", **extra: object) -> DomainSpec:
    return DomainSpec(
        server_id,
        f"tiny {server_id}",
        1,
        32,
        KernelBoot(kernel),
        console_log=tmp_path / f"{server_id}.log",
        **extra,  # type: ignore[arg-type]
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def console_has(driver: LibvirtCompute, server_id: str, text: str, count: int = 1) -> None:
    async def check() -> bool:
        return (await driver.read_console(server_id)).count(text) >= count

    await eventually(check)


async def test_guest_boots_writes_console_and_stops_gracefully(
    compute: LibvirtCompute, tiny_kernel: Path, tmp_path: Path
) -> None:
    defined = await compute.define(tiny(tiny_kernel, tmp_path))
    assert defined.state == DomainState.SHUTOFF
    assert (await compute.start("s1")).state == DomainState.RUNNING
    await console_has(compute, "s1", tinyguest.UP_LINE)
    assert (tmp_path / "s1.log").read_text().startswith(tinyguest.UP_LINE)

    assert await compute.stop("s1", grace=30) == "graceful"
    assert tinyguest.POWER_OFF_LINE in await compute.read_console("s1")
    status = await compute.get("s1")
    assert (status.state, status.reason) == (DomainState.SHUTOFF, "shutdown")
    assert await compute.stop("s1") == "already_stopped"


# A forced stop after the grace period and the order of lifecycle events are checked
# against this driver and the fake alike in test_compute_contract.py.


async def test_only_domains_with_our_metadata_are_listed_or_touched(
    compute: LibvirtCompute,
    libvirt_conn: libvirt.virConnect,
    domain_prefix: str,
    tiny_kernel: Path,
    tmp_path: Path,
) -> None:
    seen: list[DomainEvent] = []

    async def handler(event: DomainEvent) -> None:
        seen.append(event)

    await compute.subscribe(handler)
    foreign = libvirt_conn.defineXML(libvirtd.tcg_domain_xml(f"{domain_prefix}foreign"))
    foreign.create()
    await compute.define(tiny(tiny_kernel, tmp_path, "b"))
    await compute.define(tiny(tiny_kernel, tmp_path, "a"))

    listed = await compute.list()
    assert [(s.server_id, s.name) for s in listed] == [("a", "tiny a"), ("b", "tiny b")]
    assert all(s.domain_name == f"{domain_prefix}{s.server_id}" for s in listed)

    with pytest.raises(DomainConflict, match="not ours"):
        await compute.define(tiny(tiny_kernel, tmp_path, "foreign"))
    with pytest.raises(DomainConflict):
        await compute.delete("foreign")
    assert libvirt_conn.lookupByName(f"{domain_prefix}foreign")  # still there

    await compute.delete("a")
    await compute.delete("a")  # deleting what is gone is fine
    assert [s.server_id for s in await compute.list()] == ["b"]
    with pytest.raises(DomainNotFound):
        await compute.get("a")

    async def a_undefined() -> bool:
        return any(e.server_id == "a" and e.kind == EventKind.UNDEFINED for e in seen)

    await eventually(a_undefined)
    assert "foreign" not in {e.server_id for e in seen}, "events of a foreign domain leaked"


async def test_soft_reboot_asks_the_guest_and_hard_reboot_restarts_it(
    compute: LibvirtCompute, tiny_kernel: Path, tmp_path: Path
) -> None:
    await compute.define(tiny(tiny_kernel, tmp_path, "rb"))
    await compute.start("rb")
    await console_has(compute, "rb", tinyguest.UP_LINE)

    await compute.reboot("rb")
    await console_has(compute, "rb", tinyguest.POWER_OFF_LINE)
    assert (await compute.get("rb")).state == DomainState.RUNNING  # libvirt restarts it

    await compute.reboot("rb", hard=True)
    await console_has(compute, "rb", tinyguest.UP_LINE, count=2)
    assert (await compute.get("rb")).state == DomainState.RUNNING


async def test_rebuild_runs_the_new_definition(
    compute: LibvirtCompute, tiny_kernel: Path, tmp_path: Path
) -> None:
    await compute.define(tiny(tiny_kernel, tmp_path, "rs"))
    await compute.start("rs")
    new_log = tmp_path / "rebuilt.log"
    spec = tiny(tiny_kernel, tmp_path, "rs")
    rebuilt = DomainSpec(spec.server_id, "renamed", 1, 48, spec.boot, console_log=new_log)
    status = await compute.rebuild(rebuilt)
    assert (status.state, status.name) == (DomainState.RUNNING, "renamed")
    await console_has(compute, "rs", tinyguest.UP_LINE)
    assert new_log.read_text().startswith(tinyguest.UP_LINE)


async def test_stats_count_cpu_memory_nic_and_disk(
    compute: LibvirtCompute, tiny_kernel: Path, tmp_path: Path, tap: str, blank_qcow2: Path
) -> None:
    volume = blank_qcow2

    spec = tiny(
        tiny_kernel,
        tmp_path,
        "st",
        nics=(NicSpec("52:54:00:12:34:56", tap=tap),),
        disks=(DiskSpec(volume, volume_id="vol-1"),),
    )
    await compute.define(spec)
    await compute.define(tiny(tiny_kernel, tmp_path, "idle"))
    await compute.start("st")
    await console_has(compute, "st", tinyguest.UP_LINE)

    stats = {s.server_id: s for s in await compute.stats()}
    assert set(stats) == {"st", "idle"}
    running = stats["st"]
    assert running.state == DomainState.RUNNING
    assert running.cpu_time_ns > 0 and running.vcpus == 1
    assert running.memory_kib == 32 * 1024 and running.memory_rss_kib > 0
    assert [n.device for n in running.nics] == [tap]
    assert [(d.device, d.path) for d in running.disks] == [("vda", str(volume))]
    assert stats["idle"].state == DomainState.SHUTOFF
    assert [s.server_id for s in await compute.stats(["idle"])] == ["idle"]


async def test_bad_specs_fail_clearly_and_leave_nothing(
    compute: LibvirtCompute, tiny_kernel: Path, tmp_path: Path
) -> None:
    missing = DomainSpec("m", "m", 1, 32, DiskBoot(tmp_path / "nope.qcow2"))
    with pytest.raises(InvalidDomainSpec) as caught:
        await compute.define(missing)
    assert [p.where for p in caught.value.problems] == ["spec.boot.path"]
    assert "nope.qcow2 does not exist" in str(caught.value)

    bad = DomainSpec(
        "x/y", "", 0, 8, KernelBoot(tiny_kernel), nics=(NicSpec("52:54:00:XX:00:01", tap="t"),)
    )
    with pytest.raises(InvalidDomainSpec) as caught:
        await compute.define(bad)
    wheres = {p.where for p in caught.value.problems}
    assert wheres == {
        "spec.server_id",
        "spec.name",
        "spec.vcpus",
        "spec.ram_mb",
        "spec.nics[0].mac",
    }

    gone_tap = tiny(
        tiny_kernel, tmp_path, "t1", nics=(NicSpec("52:54:00:00:00:01", tap="atvgone"),)
    )
    await compute.define(gone_tap)
    with pytest.raises(InvalidDomainSpec, match="tap atvgone: does not exist"):
        await compute.start("t1")
    await compute.delete("t1")

    assert await compute.list() == []
    with pytest.raises(DomainNotFound):
        await compute.start("never")


async def test_live_detach_waits_for_the_guest_then_says_retry(
    compute: LibvirtCompute, tiny_kernel: Path, tmp_path: Path, blank_qcow2: Path
) -> None:
    await compute.define(tiny(tiny_kernel, tmp_path, "dt"))
    await compute.start("dt")
    await console_has(compute, "dt", tinyguest.UP_LINE)
    await compute.attach_volume("dt", DiskSpec(blank_qcow2))
    # the tiny guest does not implement ACPI hot-unplug, so the device stays in the guest
    with pytest.raises(ComputeTemporary, match="has not released"):
        await compute.detach_volume("dt", blank_qcow2, grace=1.0)
    await compute.stop("dt", grace=30)
    await compute.start("dt")  # a cold start takes the definition, which no longer has it
    (stats,) = await compute.stats(["dt"])
    assert stats.disks == ()


async def test_failures_name_files_not_where_the_agent_keeps_them(
    compute: LibvirtCompute, tiny_kernel: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What QEMU, libvirt and the driver say about a server's files reaches its status message
    (site users, the hub's tenant): the files by name, under a data dir with a space in it;
    the agent's log keeps the path for the operator, once."""
    kept = tmp_path / "agent data" / "instances" / "q1"
    kept.mkdir(parents=True)
    empty = kept / "k-empty.raw"
    empty.touch()  # QEMU: "could not load kernel '<path>'"
    await compute.define(tiny(empty, kept, "q1"))
    for _ in range(2):
        with pytest.raises(ComputePermanent) as caught:
            await compute.start("q1")
        said = str(caught.value)
        # QEMU's words; libvirt keeps only the end of a long message (".../k-empty.raw")
        assert "could not load" in said and "k-empty.raw'" in said, said
        assert str(tmp_path) not in said and "agent data" not in said, said
        assert "pytest-" not in said and ".../" not in said, said
    told = [r.getMessage() for r in caplog.records if str(empty) in r.getMessage()]
    # once per wording: libvirt says "closed the monitor" or "exited while connecting" at random
    assert told and len(set(told)) == len(told), told
    assert all("could not load kernel" in line for line in told), told

    shutil.copy(tiny_kernel, kept / "k.raw")
    await compute.define(tiny(kept / "k.raw", kept, "q1"))
    (kept / "k.raw").unlink()
    with pytest.raises(InvalidDomainSpec) as missing:
        await compute.start("q1")
    assert [str(p) for p in missing.value.problems] == ["file k.raw: does not exist"]
    assert str(tmp_path) not in str(missing.value)
    await compute.delete("q1")

    (kept / "drive").write_text("a file where the drive's directory should be")
    with pytest.raises(ComputePermanent) as caught:
        await compute.build_config_drive(ConfigDriveSpec("q1", "q1"), kept / "drive" / "c.iso")
    said = str(caught.value)
    assert said.startswith("could not build the config drive of server q1: "), said
    assert str(tmp_path) not in said and "agent data" not in said, said
