"""``atoll testbed ...``: a hub and sites on this machine (up, status, faults, down) and the
demo. Every command but ``demo`` takes ``--dir`` (default ``$ATOLL_TESTBED_DIR`` or
``/tmp/atoll-testbed``): the testbed's record, logs and data live there."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atoll.cli import Subparsers
from atoll.output import add_format_option, emit

DEFAULT_DIR = Path(os.environ.get("ATOLL_TESTBED_DIR", "/tmp/atoll-testbed"))


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("testbed", help="hub and sites on one machine; the demo")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    demo = cmds.add_parser("demo", help="run the end-to-end demo and say what it did")
    demo.set_defaults(func=_demo)

    up = _command(cmds, "up", "bring up a hub and sites (each agent in its own namespace)", _up)
    up.add_argument("--sites", type=int, default=2, help="sites on real libvirt + OVS (2)")
    up.add_argument(
        "--fake-sites",
        type=int,
        default=0,
        help="more sites on the drivers' in-memory fakes (one process each)",
    )
    up.add_argument(
        "--simulated",
        type=int,
        default=0,
        help="simulated sites (real joins and sync sessions, no agent) in one process",
    )
    up.add_argument("--wan-latency", default="", help="delay on every WAN link (40ms)")
    up.add_argument("--wan-loss", default="", help="netem loss on every WAN link (0.5%%)")
    status = _command(cmds, "status", "each site: agent, WAN link, what the hub sees", _status)
    add_format_option(status)
    for name, help_ in (
        ("partition", "cut a site's WAN link"),
        ("heal", "restore it"),
        ("kill", "kill -9 a site's agent"),
        ("restart", "(re)start its agent"),
    ):
        _command(cmds, name, help_, _fault).add_argument(
            "site", help="site-N (kill/restart: or hub)"
        )
    degrade = _command(cmds, "degrade", "WAN latency and loss for one site (tc netem)", _degrade)
    degrade.add_argument("site", help="site-N")
    degrade.add_argument("--latency", default="", help="e.g. 200ms (0: none)")
    degrade.add_argument("--loss", default="", help="e.g. 5%% (0: none)")
    _command(cmds, "down", "remove everything the testbed made (even after a crash)", _down)


def _command(
    cmds: Any, name: str, help_: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = cmds.add_parser(name, help=help_)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"(default {DEFAULT_DIR})")
    parser.set_defaults(func=func, command=name)
    return parser


def _demo(args: argparse.Namespace) -> int:
    from atoll.testbed.demo.play import run

    return 1 if run() else 0


def _up(args: argparse.Namespace) -> int:
    from atoll.testbed.bed.bringup import up

    up(
        args.dir,
        args.sites,
        args.fake_sites,
        args.wan_latency,
        args.wan_loss,
        simulated=args.simulated,
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from atoll.testbed.bed import faults
    from atoll.testbed.bed.state import BedState

    emit(faults.status(BedState.load(args.dir)), args.format, faults.STATUS_COLUMNS)
    return 0


def _fault(args: argparse.Namespace) -> int:
    from atoll.testbed.bed import faults
    from atoll.testbed.bed.state import BedState

    bed = BedState.load(args.dir)
    getattr(faults, args.command)(bed, args.site)
    print(f"{args.command}: {args.site}")
    return 0


def _degrade(args: argparse.Namespace) -> int:
    from atoll.testbed.bed import faults
    from atoll.testbed.bed.state import BedState

    faults.degrade(BedState.load(args.dir), args.site, args.latency, args.loss)
    print(f"degrade: {args.site} latency {args.latency or '0'} loss {args.loss or '0%'}")
    return 0


def _down(args: argparse.Namespace) -> int:
    from atoll.testbed.bed.teardown import down

    down(args.dir)
    return 0
