"""``atoll testbed ...``: the demo and host checks."""

from __future__ import annotations

import argparse

from atoll.cli import Subparsers


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("testbed", help="hub and sites on one machine; the demo")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    demo = cmds.add_parser("demo", help="run the end-to-end demo and say what it did")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from atoll.testbed.demo.play import run

    return 1 if run() else 0
