"""A tiny multiboot guest for compute tests, assembled from ``tinyguest.S`` with binutils.

It boots in well under a second under TCG, prints ``UP_LINE`` on the serial port, and
answers the ACPI power button by printing ``POWER_OFF_LINE`` and entering S5, as an OS
would: enough to test the console log, a graceful stop and a soft reboot without an OS
image (the images component builds the real reference image).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("tinyguest.S")
UP_LINE = "atoll tiny guest: up"
POWER_OFF_LINE = "atoll tiny guest: ACPI power button, powering off"


def build(workdir: Path) -> Path:
    """Assemble and link the guest; returns the ELF kernel path for direct kernel boot."""
    obj, elf = workdir / "tinyguest.o", workdir / "tinyguest.elf"
    subprocess.run(["as", "--32", str(SOURCE), "-o", str(obj)], check=True)
    argv = ["ld", "-m", "elf_i386", "-Ttext", "0x100000", "-e", "_start", str(obj), "-o", str(elf)]
    subprocess.run(argv, check=True)
    return elf


def blank_disk(path: Path) -> Path:
    """A 1 MiB qcow2 with nothing on it: the firmware finds no OS and ignores ACPI."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"], check=True)
    return path


def kill_qemu(domain_name: str) -> None:
    """SIGKILL the QEMU process of a running domain, as a host OOM kill would."""
    pid = int(Path(f"/run/libvirt/qemu/{domain_name}.pid").read_text())
    os.kill(pid, signal.SIGKILL)
