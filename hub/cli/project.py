"""``atoll project create|list|show|delete``."""

from __future__ import annotations

import argparse

from atoll.cli import Subparsers
from atoll.hub.cli.collection import Collection
from atoll.hub.cli.connection import add_connection_options, client
from atoll.output import add_format_option, emit

COLUMNS = ["name", "description", "created_at"]
PROJECTS = Collection("project", COLUMNS)


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("project", help="projects (tenants)")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = cmds.add_parser("create", help="create a project")
    create.add_argument("name")
    create.add_argument("--description", default="")
    create.set_defaults(func=_create)
    listing = cmds.add_parser("list", help="list the projects you can see")
    listing.set_defaults(func=PROJECTS.list)
    show = cmds.add_parser("show", help="show a project")
    show.add_argument("name")
    show.set_defaults(func=PROJECTS.show)
    delete = cmds.add_parser("delete", help="delete a project (and its role assignments)")
    delete.add_argument("name")
    delete.set_defaults(func=PROJECTS.delete)
    for cmd in (create, listing, show, delete):
        add_connection_options(cmd)
    for cmd in (create, listing, show):
        add_format_option(cmd)


def _create(args: argparse.Namespace) -> int:
    body = {"name": args.name, "description": args.description}
    emit(client(args).post("/v1/projects", body), args.format)
    return 0
