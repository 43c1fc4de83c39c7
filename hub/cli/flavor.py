"""``atoll flavor create|list|show|delete`` (``--vcpus --ram --disk --property k=v``).

Properties are the telco extra specs: ``dedicated_cpus=true``, ``hugepages=2M|1G``,
``numa_nodes=2``, ``sriov_ports=1``.
"""

from __future__ import annotations

import argparse

from atoll.cli import Subparsers
from atoll.errors import InvalidInput, Problem
from atoll.hub.cli.collection import Collection
from atoll.hub.cli.connection import add_connection_options, client
from atoll.output import add_format_option, emit

COLUMNS = ["name", "vcpus", "ram_mb", "disk_gb", "public", "extra_specs"]
FLAVORS = Collection("flavor", COLUMNS)


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("flavor", help="flavors: instance sizes and telco extras")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = cmds.add_parser("create", help="create a flavor")
    create.add_argument("name")
    create.add_argument("--vcpus", type=int, required=True)
    create.add_argument("--ram", type=int, required=True, help="MiB")
    create.add_argument("--disk", type=int, required=True, help="GiB")
    create.add_argument(
        "--property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dedicated_cpus=true, hugepages=1G, numa_nodes=2, sriov_ports=1",
    )
    visibility = create.add_mutually_exclusive_group()
    visibility.add_argument("--public", action="store_true", default=None)
    visibility.add_argument("--private", dest="public", action="store_false")
    create.add_argument("--project", action="append", default=[], help="access (private)")
    create.add_argument("--description", default="")
    create.set_defaults(func=_create)
    listing = cmds.add_parser("list", help="list the flavors you may use")
    listing.set_defaults(func=FLAVORS.list)
    show = cmds.add_parser("show", help="show a flavor")
    show.add_argument("name")
    show.set_defaults(func=FLAVORS.show)
    delete = cmds.add_parser("delete", help="delete a flavor")
    delete.add_argument("name")
    delete.set_defaults(func=FLAVORS.delete)
    for cmd in (create, listing, show, delete):
        add_connection_options(cmd)
    for cmd in (create, listing, show):
        add_format_option(cmd)


def parse_property(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise InvalidInput("a property is KEY=VALUE", [Problem(f"--property {text}", "no '='")])
    value: object = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    elif raw.isascii() and raw.isdigit():
        value = int(raw)
    return key, value


def _create(args: argparse.Namespace) -> int:
    body: dict[str, object] = {
        "name": args.name,
        "vcpus": args.vcpus,
        "ram_mb": args.ram,
        "disk_gb": args.disk,
        "description": args.description,
    }
    if args.property:
        body["extra_specs"] = dict(parse_property(p) for p in args.property)
    if args.public is not None:
        body["public"] = args.public
    if args.project:
        body["projects"] = args.project
    emit(client(args).post("/v1/flavors", body), args.format)
    return 0
