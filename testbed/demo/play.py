"""Plays the demo's acts in order, each in the shared stage, and always cleans up."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from atoll.testbed.demo import catalog, fleet, hub, packages, services, site
from atoll.testbed.demo.stage import Say, Stage


@dataclass(frozen=True)
class Act:
    title: str
    play: Callable[[Stage], None]


ACTS = [
    Act("The hub: HTTPS, identity, a flavor, a join token, project isolation", hub.play),
    Act("VNF packages: real ETSI packages read into Atoll's deployment model", packages.play),
    Act(
        "The catalog: reference image uploaded, a package onboarded, images prestaged", catalog.play
    ),
    Act(
        "The fleet: two sites join by zeroconf, one VNF instantiated from the hub over both, "
        "a partition, offline changes on both sides, convergence, a conflict, terminate",
        fleet.play,
    ),
    Act("An edge site on its own: the reference VNF on real libvirt + OVS, kill -9", site.play),
    Act("Scale-out store: the hub on a 3-member etcd cluster loses a member", services.play),
]


def run(say: Say = print, acts: list[Act] | None = None) -> int:
    """Play every act; returns the number of acts that failed."""
    acts = ACTS if acts is None else acts
    failed = 0
    with tempfile.TemporaryDirectory(prefix="atoll-demo-") as tmp, ExitStack() as stack:
        stage = Stage(Path(tmp), stack, say)
        for n, act in enumerate(acts, 1):
            say(f"\n[{n}/{len(acts)}] {act.title}")
            started = time.monotonic()
            try:
                act.play(stage)
                say(f"  ok ({time.monotonic() - started:.1f}s)")
            except Exception as exc:
                failed += 1
                say(f"  FAILED: {type(exc).__name__}: {exc}")
        say("\ncleaning up: stopping daemons, removing guests, switches and namespaces")
    say(f"{len(acts) - failed} of {len(acts)} acts played; nothing left behind.")
    return failed
