"""``atoll testbed down``: remove everything a testbed made, found by its record and its tag.

Order: the agents and the hub (their command lines name the testbed's directory), the
libvirt domains under ``atoll-<tag>-``, the private OVS (its bridges, then its daemons by
their pid files), the links ``at-<tag>*`` (WAN bridge, veths, any tap left), the namespaces
``atoll-<tag>-*``, then the directory. Every step runs even if an earlier one failed, and
finding nothing is fine: ``down`` is what to run after anything went wrong, twice if need be.
A directory with no record (never brought up, or already down, or an ``up`` that failed and
removed what it made) has nothing to remove: ``down`` says so and succeeds.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path

from atoll.errors import NotFound
from atoll.testbed.bed import procs
from atoll.testbed.bed.state import BedState
from atoll.testbed.services import libvirtd
from atoll.testbed.services.netns import ip
from atoll.testbed.services.ovs import stop_detached

Say = Callable[[str], None]


def down(directory: Path, say: Say = print) -> list[str]:
    """Remove the testbed at ``directory``; returns what was removed (for the record)."""
    try:
        bed = BedState.load(directory)
    except NotFound:  # no record: never brought up, already down, or a failed `up`
        say(f"down: no testbed at {directory}: nothing to remove")
        return []
    removed: list[str] = []
    pids = set(procs.naming(bed.dir))
    pids |= {p for p in [bed.hub_pid, *(s.pid for s in bed.sites)] if p and procs.alive(p)}
    ovs_pids = set(procs.naming(str(bed.ovs_dir)))
    for pid in sorted(pids - ovs_pids):
        procs.stop(pid)
        removed.append(f"process {pid}")
    with contextlib.suppress(Exception):  # libvirtd may not be running: then no domains
        conn = libvirtd.connect()
        try:
            removed += [f"domain {d}" for d in libvirtd.remove_domains(conn, f"atoll-{bed.tag}-")]
        finally:
            conn.close()
    if bed.ovs_dir.exists():
        stop_detached(bed.ovs_dir)
        removed.append(f"OVS under {bed.ovs_dir}")
    for pid in sorted(ovs_pids):
        procs.stop(pid)
    for line in ip("-o", "link", "show").splitlines():
        name = line.split(":", 2)[1].strip().split("@")[0]
        if name.startswith(f"at-{bed.tag}"):
            with contextlib.suppress(RuntimeError):
                ip("link", "del", name)
                removed.append(f"link {name}")
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(f"atoll-{bed.tag}-"):
            with contextlib.suppress(RuntimeError):
                ip("netns", "del", name)
                removed.append(f"namespace {name}")
    shutil.rmtree(directory, ignore_errors=True)
    say(f"down: testbed {bed.tag} removed ({len(removed)} things)")
    return removed
