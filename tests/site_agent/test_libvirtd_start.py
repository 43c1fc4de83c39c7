"""Starting libvirt's daemons from several processes at once (``atoll.site_agent.libvirtd``).

On a fresh host two starters once both ran ``virtlogd -d`` and the second failed on the
pidfile the first held; the check-then-start now runs under a host-wide lock. Stopping the
host's daemons here would pull them from under every other test, so the race itself was
reproduced by hand (4 concurrent starts on a host with none: 2 of 4 failed before, 24 of 24
passed after); these tests hold what can be checked beside the others.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from atoll import host_lock
from atoll.errors import TemporaryError
from atoll.site_agent import libvirtd

pytestmark = pytest.mark.integration

START = "from atoll.site_agent.libvirtd import ensure_running; ensure_running(); print('ok')"


def test_concurrent_starters_all_find_the_daemons_running() -> None:
    starters = [
        subprocess.Popen([sys.executable, "-c", START], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in starters]
    assert outputs == ["ok"] * 4, outputs
    assert [p.returncode for p in starters] == [0] * 4


def test_a_starter_stuck_holding_the_lock_is_named_not_waited_for_forever() -> None:
    libvirtd.START_LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = host_lock.acquire(libvirtd.START_LOCK, 30)  # another open file: ensure_running waits
    assert fd is not None
    try:
        with pytest.raises(TemporaryError, match=r"atoll-start\.lock") as caught:
            libvirtd.ensure_running(timeout=0.5)
        assert caught.value.delay == 5.0
    finally:
        os.close(fd)
    libvirtd.ensure_running()  # released: it goes through
