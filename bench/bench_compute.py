"""Create-to-running time of one TCG domain: LibvirtCompute (define + start) against a raw
``virsh create`` of the very same domain XML, in the same run (goal: ratio at most 1.2).

The guest has one blank qcow2 disk (no OS): "running" is libvirt's state, which is what
both paths wait for. The driver's connection is warm (as in the agent); ``virsh`` opens
its own each time, as a person at the shell does.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import libvirt

from atoll.site_agent.drivers.compute.base import DiskBoot, DomainSpec, DomainState
from atoll.site_agent.drivers.compute.libvirt import LibvirtCompute
from atoll.site_agent.drivers.compute.settings import LibvirtSettings
from atoll.testbed.services import libvirtd
from bench.report import emit

RUNS = 5
PREFIX = f"atollbench-{secrets.token_hex(3)}-"


def virsh_create(xml_file: Path, name: str) -> float:
    start = time.perf_counter()
    subprocess.run(["virsh", "-q", "-c", libvirtd.URI, "create", str(xml_file)], check=True)
    elapsed = time.perf_counter() - start
    subprocess.run(["virsh", "-q", "-c", libvirtd.URI, "destroy", name], check=True)
    return elapsed


async def driver_create(driver: LibvirtCompute, spec: DomainSpec) -> float:
    start = time.perf_counter()
    await driver.define(spec)
    status = await driver.start(spec.server_id)
    elapsed = time.perf_counter() - start
    assert status.state == DomainState.RUNNING
    await driver.delete(spec.server_id)
    return elapsed


async def measure(tmp: Path, disk: Path) -> tuple[float, float]:
    driver = LibvirtCompute(LibvirtSettings(name_prefix=PREFIX))
    spec = DomainSpec("bench", "bench", 1, 64, DiskBoot(disk))
    xml_file = tmp / "domain.xml"
    xml_file.write_text(driver.render(spec))
    ours: list[float] = []
    raw: list[float] = []
    try:
        await driver_create(driver, spec)  # warm up both paths once
        await asyncio.to_thread(virsh_create, xml_file, PREFIX + "bench")
        for _ in range(RUNS):
            ours.append(await driver_create(driver, spec))
            raw.append(await asyncio.to_thread(virsh_create, xml_file, PREFIX + "bench"))
    finally:
        await driver.close()
    return statistics.median(ours), statistics.median(raw)


def main() -> None:
    libvirtd.ensure_libvirtd()
    try:
        with tempfile.TemporaryDirectory(prefix="atoll-bench-compute-") as tmp:
            disk = Path(tmp) / "blank.qcow2"
            argv = ["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1M"]
            subprocess.run(argv, check=True)
            ours, raw = asyncio.run(measure(Path(tmp), disk))
    finally:
        conn = libvirt.open(libvirtd.URI)
        try:
            libvirtd.remove_domains(conn, PREFIX)
        finally:
            conn.close()
    emit("compute_create_to_running", ours, "s", raw)


if __name__ == "__main__":
    main()
