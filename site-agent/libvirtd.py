"""Starting libvirtd (and virtlogd) on hosts without an init system, as the agent needs them.

The compute driver connects to libvirtd but does not start it. On these edge hosts there is
no systemd, so the agent starts both daemons (daemonized, ``-d``) when they are not running
and waits for the socket, unless the setting ``start_libvirtd`` is off.

Several processes may need the daemons at once (two agents on one host, the testbed and its
tests): the check-then-start runs under a host-wide ``flock`` on :data:`START_LOCK`, so only
one of them starts each daemon. A daemon that another starter brought up anyway (one that does
not take the lock) is accepted: what counts is that it runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from atoll import host_lock
from atoll.errors import TemporaryError

log = logging.getLogger(__name__)
SOCKET = Path("/run/libvirt/libvirt-sock")
START_LOCK = Path("/run/libvirt/atoll-start.lock")


def _running(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


@contextlib.contextmanager
def _start_lock(timeout: float) -> Iterator[None]:
    """Hold :data:`START_LOCK`; waits at most ``timeout`` s for another starter (a daemon
    that hangs while it starts must not hang every agent behind it)."""
    fd = host_lock.acquire(START_LOCK, timeout)
    if fd is None:
        raise TemporaryError(
            f"another process has been starting libvirt's daemons for over {timeout}s "
            f"(it holds {START_LOCK})",
            delay=5.0,
        )
    try:
        yield
    finally:
        os.close(fd)  # closing the fd releases the flock


def _start(daemon: str) -> None:
    """Start ``daemon`` daemonized; ``-d`` returns once it holds its pidfile and listens."""
    path = shutil.which(daemon) or f"/usr/sbin/{daemon}"
    log.info("starting %s", daemon)
    proc = subprocess.run([path, "-d"], capture_output=True, text=True)
    if proc.returncode != 0 and not _running(daemon):  # (lost a race to one that runs: fine)
        raise TemporaryError(f"{daemon} did not start: {proc.stderr.strip()}", delay=5.0)


def ensure_running(timeout: float = 20.0) -> None:
    for d in ("/var/log/libvirt/qemu", "/run/libvirt", "/var/lib/libvirt/qemu"):
        Path(d).mkdir(parents=True, exist_ok=True)
    with _start_lock(timeout):
        for daemon in ("virtlogd", "libvirtd"):
            if not _running(daemon):
                _start(daemon)
    deadline = time.monotonic() + timeout
    while not SOCKET.exists():
        if time.monotonic() > deadline:
            raise TemporaryError(
                f"libvirtd socket {SOCKET} did not appear in {timeout}s", delay=5.0
            )
        time.sleep(0.1)
