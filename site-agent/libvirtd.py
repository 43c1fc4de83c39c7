"""Starting libvirtd (and virtlogd) on hosts without an init system, as the agent needs them.

The compute driver connects to libvirtd but does not start it. On these edge hosts there is
no systemd, so the agent starts both daemons (daemonized, ``-d``) when they are not running
and waits for the socket, unless the setting ``start_libvirtd`` is off.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

from atoll.errors import TemporaryError

log = logging.getLogger(__name__)
SOCKET = Path("/run/libvirt/libvirt-sock")


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


def ensure_running(timeout: float = 20.0) -> None:
    for d in ("/var/log/libvirt/qemu", "/run/libvirt", "/var/lib/libvirt/qemu"):
        Path(d).mkdir(parents=True, exist_ok=True)
    for daemon in ("virtlogd", "libvirtd"):
        if _running(daemon):
            continue
        path = shutil.which(daemon) or f"/usr/sbin/{daemon}"
        log.info("starting %s", daemon)
        proc = subprocess.run([path, "-d"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise TemporaryError(f"{daemon} did not start: {proc.stderr.strip()}", delay=5.0)
    deadline = time.monotonic() + timeout
    while not SOCKET.exists():
        if time.monotonic() > deadline:
            raise TemporaryError(
                f"libvirtd socket {SOCKET} did not appear in {timeout}s", delay=5.0
            )
        time.sleep(0.1)
