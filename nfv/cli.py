"""``atoll vnf ...``: VNF packages from the command line.

The hub commands (``upload|list|show|delete|enable|disable|vnfd``) are in
:mod:`atoll.nfv.client_cli`; ``atoll vnf instance ...`` and ``atoll vnf op ...`` (the
lifecycle, SOL003 v2) in :mod:`atoll.nfv.lcm_cli`.

``atoll vnf package validate PATH [-f json]`` reads a package (a ``.csar``/``.zip`` file or
an unpacked directory) exactly as onboarding does, and prints a summary of its deployment
model, or every problem found (exit code 1). With ``-f json`` the full model (or the
problems) is printed as JSON on stdout either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atoll.cli import Subparsers
from atoll.errors import InvalidInput, Problem
from atoll.nfv import lcm_cli
from atoll.nfv.client_cli import add_commands
from atoll.output import add_format_option, emit


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("vnf", help="ETSI VNF packages, instances and their lifecycle")
    nouns = parser.add_subparsers(title="objects", metavar="OBJECT", required=True)
    package = nouns.add_parser("package", help="VNF packages (SOL004 CSAR)")
    cmds = package.add_subparsers(title="commands", metavar="COMMAND", required=True)
    validate = cmds.add_parser(
        "validate", help="read a package as onboarding does; print its model or its problems"
    )
    validate.add_argument("path", type=Path, help="a .csar/.zip file or an unpacked package")
    add_format_option(validate)
    validate.set_defaults(func=_validate)
    add_commands(cmds)
    lcm_cli.add_commands(nouns)


def _validate(args: argparse.Namespace) -> int:
    from atoll.nfv.errors import InvalidPackage
    from atoll.nfv.package import SUMMARY, load_package
    from atoll.nfv.summary import summarize, summarize_flavour

    path: Path = args.path
    try:
        if not path.exists():  # the reader names no host path; here it is the caller's own
            raise InvalidPackage(SUMMARY, [Problem(str(path), "does not exist")])
        package = load_package(path)
    except InvalidInput as exc:
        if args.format != "json":
            raise
        problems = [{"where": p.where, "what": p.what} for p in exc.problems]
        emit({"valid": False, "error": exc.summary, "problems": problems}, "json")
        return 1
    if args.format == "json":
        emit({"valid": True, "package": package.to_dict()}, "json")
        return 0
    emit(summarize(package), "table")
    for flavour in package.vnfd.flavours:
        print()
        emit(summarize_flavour(flavour), "table")
    for warning in package.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
