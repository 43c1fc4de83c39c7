"""Host-wide exclusive locks: ``flock`` on a file, waited for at most a given time.

Used where processes on one host must take turns: starting libvirt's daemons
(:mod:`atoll.site_agent.libvirtd`) and the one private netdev OVS a host can run
(:mod:`atoll.testbed.services.ovs`). The lock belongs to the open file: it is released when
the returned descriptor is closed, or when the process holding it dies.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

POLL = 0.05  # seconds between tries while another process holds the lock


def acquire(path: Path, timeout: float, mode: int = 0o600) -> int | None:
    """Open ``path`` (made with ``mode`` if missing) and lock it exclusively, waiting up to
    ``timeout`` seconds; returns the locked descriptor, or None if the wait ran out."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(POLL)
