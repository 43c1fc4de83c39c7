"""One behavioural suite for every ComputeDriver: LibvirtCompute (real libvirtd) and the fake.

What the agent core relies on (see ``compute/base.py``) is asserted against both, so the
fake cannot drift from what a real hypervisor does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from atoll.site_agent.drivers.compute.base import (
    ComputeDriver,
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
    DomainConflict,
    DomainNotFound,
    InvalidDomainSpec,
)
from atoll.site_agent.drivers.compute.fake import FakeCompute
from atoll.site_agent.drivers.compute.libvirt import LibvirtCompute
from atoll.site_agent.drivers.compute.settings import LibvirtSettings
from tests.site_agent.drivers import tinyguest


@dataclass
class Kit:
    driver: ComputeDriver
    guest: Callable[[str], DomainSpec]  # a guest with an "OS": it answers ACPI
    hang: Callable[[str], Awaitable[None]]  # define a guest that ignores ACPI
    crash: Callable[[str], Awaitable[None]]  # the hypervisor process dies under the guest


@pytest.fixture(params=[pytest.param("libvirt", marks=pytest.mark.integration), "fake"])
async def kit(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kit]:
    if request.param == "fake":
        fake = FakeCompute(check_paths=True)  # as the real driver, it wants the files there
        disk, kernel = tmp_path / "x.qcow2", tmp_path / "k"
        disk.touch()
        kernel.touch()

        async def hang_fake(server_id: str) -> None:
            await fake.define(DomainSpec(server_id, server_id, 1, 32, DiskBoot(disk)))
            fake.hang(server_id)

        def fake_guest(server_id: str) -> DomainSpec:
            return DomainSpec(server_id, f"g {server_id}", 1, 32, KernelBoot(kernel))

        async def crash_fake(server_id: str) -> None:
            fake.crash(server_id)

        yield Kit(fake, fake_guest, hang_fake, crash_fake)
        await fake.close()
        return

    domain_prefix: str = request.getfixturevalue("domain_prefix")
    kernel = tinyguest.build(tmp_path)
    blank = tinyguest.blank_disk(tmp_path / "blank.qcow2")
    real = LibvirtCompute(LibvirtSettings(name_prefix=domain_prefix))

    async def hang_real(server_id: str) -> None:
        await real.define(DomainSpec(server_id, server_id, 1, 32, DiskBoot(blank)))

    def real_guest(server_id: str) -> DomainSpec:
        log = tmp_path / f"{server_id}.log"
        return DomainSpec(server_id, f"g {server_id}", 1, 32, KernelBoot(kernel), console_log=log)

    async def crash_real(server_id: str) -> None:
        tinyguest.kill_qemu((await real.get(server_id)).domain_name)

    try:
        yield Kit(real, real_guest, hang_real, crash_real)
    finally:
        await real.close()


async def booted(kit: Kit, server_id: str) -> None:
    """Wait until the guest's OS is up (the fake is up at once)."""
    for _ in range(150):
        console = await kit.driver.read_console(server_id)
        if tinyguest.UP_LINE in console or "[fake]" in console:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{server_id} did not boot")


async def test_lifecycle_is_idempotent_where_it_should_be(kit: Kit) -> None:
    d = kit.driver
    defined = await d.define(kit.guest("b"))  # off because it never ran, not a crash
    assert (defined.state, defined.reason) == (DomainState.SHUTOFF, "unknown")
    await d.define(kit.guest("a"))
    assert [(s.server_id, s.name) for s in await d.list()] == [("a", "g a"), ("b", "g b")]

    assert (await d.start("a")).state == DomainState.RUNNING
    assert (await d.start("a")).state == DomainState.RUNNING
    await booted(kit, "a")
    await d.define(kit.guest("a"))  # a new definition does not stop a running domain
    assert (await d.get("a")).state == DomainState.RUNNING

    assert await d.stop("a", grace=30) == "graceful"
    assert await d.stop("a") == "already_stopped"
    with pytest.raises(DomainConflict):
        await d.reboot("a")  # a soft reboot needs a running guest

    await d.delete("a")
    await d.delete("a")
    with pytest.raises(DomainNotFound):
        await d.get("a")
    for action in (d.start, d.stop, d.reboot):
        with pytest.raises(DomainNotFound):
            await action("a")
    await d.delete("b")
    assert await d.list() == []


async def test_a_guest_ignoring_acpi_is_forced_off(kit: Kit) -> None:
    await kit.hang("h")
    await kit.driver.start("h")
    assert await kit.driver.stop("h", grace=0.5) == "forced"
    status = await kit.driver.get("h")
    assert (status.state, status.reason) == (DomainState.SHUTOFF, "destroyed")
    await kit.driver.delete("h")


async def test_events_follow_the_lifecycle(kit: Kit) -> None:
    seen: list[DomainEvent] = []

    async def handler(event: DomainEvent) -> None:
        seen.append(event)

    await kit.driver.subscribe(handler)
    await kit.hang("e")
    await kit.driver.start("e")
    await kit.driver.stop("e", grace=0)
    await kit.driver.delete("e")
    for _ in range(100):
        if any(e.kind == EventKind.UNDEFINED for e in seen):
            break
        await asyncio.sleep(0.05)
    main = [(e.kind, e.detail) for e in seen if e.kind != EventKind.RESUMED]
    assert main == [
        (EventKind.DEFINED, "added"),
        (EventKind.STARTED, "booted"),
        (EventKind.STOPPED, "destroyed"),
        (EventKind.UNDEFINED, "removed"),
    ] or main == [  # libvirt may announce the forced stop as a host-side shutdown first
        (EventKind.DEFINED, "added"),
        (EventKind.STARTED, "booted"),
        (EventKind.SHUTDOWN, "host"),
        (EventKind.STOPPED, "destroyed"),
        (EventKind.UNDEFINED, "removed"),
    ]


async def test_a_failing_handler_spoils_nothing_and_is_logged_once(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[DomainEvent] = []
    gone = asyncio.Event()

    async def broken(event: DomainEvent) -> None:
        raise RuntimeError("a handler bug")

    async def handler(event: DomainEvent) -> None:
        seen.append(event)
        if event.kind == EventKind.UNDEFINED:
            gone.set()

    await kit.driver.subscribe(broken)
    await kit.driver.subscribe(handler)
    await kit.driver.define(kit.guest("f"))
    await kit.driver.delete("f")
    await asyncio.wait_for(gone.wait(), 30)  # later events still came, to the other handler
    assert [e.kind for e in seen if e.kind != EventKind.RESUMED] == [
        EventKind.DEFINED,
        EventKind.UNDEFINED,
    ]
    logged = [r for r in caplog.records if r.name.endswith("compute.dispatch")]
    assert len(logged) == 1 and logged[0].exc_info is not None  # once, though both failed
    assert "a handler bug" in str(logged[0].exc_info[1])


async def test_bad_specs_are_refused_with_every_problem(kit: Kit) -> None:
    spec = DomainSpec(
        "bad id",
        "n",
        0,
        32,
        KernelBoot(Path("/k")),
        nics=(
            NicSpec("52:54:00:00:00:01", tap="tap-a"),
            NicSpec("52:54:00:00:00:01", tap="tap-a", hostdev_pci="0000:03:10.1"),
        ),
    )
    with pytest.raises(InvalidDomainSpec) as caught:
        await kit.driver.define(spec)
    wheres = [p.where for p in caught.value.problems]
    assert "spec.server_id" in wheres and "spec.vcpus" in wheres
    assert {"spec.nics[1].mac", "spec.nics[1]", "spec.nics[1].tap"} <= set(wheres)
    assert await kit.driver.list() == []


async def test_a_missing_file_is_named_never_where_the_agent_keeps_it(
    kit: Kit, tmp_path: Path
) -> None:
    """Driver errors become a server's status message (site users, the hub's tenant) and API
    answers: a missing file is named by its name, a volume by its id, never by its path."""
    kept = tmp_path / "agent data" / "instances" / "p1"
    spec = replace(
        kit.guest("p1"),
        disks=(DiskSpec(kept / "vol-1.qcow2", volume_id="vol-1"),),
        config_drive=kept / "config.iso",
    )
    with pytest.raises(InvalidDomainSpec) as caught:
        await kit.driver.define(spec)
    said = str(caught.value)
    assert "vol-1.qcow2 does not exist" in said and "config.iso does not exist" in said, said
    assert str(tmp_path) not in said and "agent data" not in said, said

    await kit.driver.define(kit.guest("p1"))
    with pytest.raises(InvalidDomainSpec) as caught:
        await kit.driver.attach_volume("p1", DiskSpec(kept / "vol-2.qcow2", volume_id="vol-2"))
    said = str(caught.value)
    assert "volume vol-2" in said and str(tmp_path) not in said, said
    await kit.driver.delete("p1")


async def test_stats_report_our_domains(kit: Kit) -> None:
    await kit.driver.define(kit.guest("s"))
    await kit.driver.start("s")
    await booted(kit, "s")
    (stats,) = await kit.driver.stats()
    assert (stats.server_id, stats.state, stats.vcpus) == ("s", DomainState.RUNNING, 1)
    assert stats.memory_kib == 32 * 1024 and stats.cpu_time_ns > 0
    await kit.driver.delete("s")
    assert await kit.driver.stats() == []


async def test_a_dead_hypervisor_process_reads_as_a_crash(kit: Kit) -> None:
    seen: list[DomainEvent] = []

    async def handler(event: DomainEvent) -> None:
        seen.append(event)

    await kit.driver.subscribe(handler)
    await kit.hang("c")
    await kit.driver.start("c")
    await kit.crash("c")
    for _ in range(100):
        if any(e.kind == EventKind.STOPPED for e in seen):
            break
        await asyncio.sleep(0.05)
    stopped = [e for e in seen if e.kind == EventKind.STOPPED]
    assert [(e.detail, e.state) for e in stopped] == [("failed", DomainState.SHUTOFF)]
    status = await kit.driver.get("c")
    assert (status.state, status.reason) == (DomainState.SHUTOFF, "crashed")
    await kit.driver.delete("c")


async def test_volumes_attach_live_and_detach_cold(kit: Kit, tmp_path: Path) -> None:
    vol = tinyguest.blank_disk(tmp_path / "vol.qcow2")
    other = tinyguest.blank_disk(tmp_path / "other.qcow2")
    await kit.driver.define(kit.guest("v"))
    await kit.driver.start("v")
    await booted(kit, "v")
    assert await kit.driver.attach_volume("v", DiskSpec(vol, volume_id="vol-1")) == "vda"
    assert await kit.driver.attach_volume("v", DiskSpec(vol, volume_id="vol-1")) == "vda"
    assert await kit.driver.attach_volume("v", DiskSpec(other)) == "vdb"
    (stats,) = await kit.driver.stats(["v"])
    if isinstance(kit.driver, LibvirtCompute):  # the fake keeps no per-disk counters
        assert [d.device for d in stats.disks] == ["vda", "vdb"]

    assert await kit.driver.stop("v", grace=30) == "graceful"
    await kit.driver.detach_volume("v", vol)
    await kit.driver.detach_volume("v", vol)
    assert await kit.driver.attach_volume("v", DiskSpec(vol)) == "vda"  # the free name again
    await kit.driver.delete("v")
