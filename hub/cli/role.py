"""``atoll role add|remove|list --user U (--project P | --system) --role R``."""

from __future__ import annotations

import argparse

from atoll.cli import Subparsers
from atoll.client import quote
from atoll.errors import InvalidInput
from atoll.hub.cli.connection import add_connection_options, client
from atoll.output import add_format_option, emit

COLUMNS = ["user", "project", "system", "role"]


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("role", help="role assignments (admin, member, reader)")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = cmds.add_parser("add", help="give a user a role on a project or on the system")
    remove = cmds.add_parser("remove", help="take a role away (the user's tokens end)")
    for cmd in (add, remove):
        cmd.add_argument("--user", required=True)
        scope = cmd.add_mutually_exclusive_group(required=True)
        scope.add_argument("--project")
        scope.add_argument("--system", action="store_true", help="a fleet-wide role")
        cmd.add_argument("--role", required=True, choices=["admin", "member", "reader"])
    add.set_defaults(func=_add)
    remove.set_defaults(func=_remove)
    listing = cmds.add_parser("list", help="list role assignments")
    listing.add_argument("--user")
    listing.add_argument("--project")
    listing.set_defaults(func=_list)
    for cmd in (add, remove, listing):
        add_connection_options(cmd)
    for cmd in (add, listing):
        add_format_option(cmd)


def _add(args: argparse.Namespace) -> int:
    body: dict[str, object] = {"user": args.user, "role": args.role}
    if args.system:
        body["system"] = True
    else:
        body["project"] = args.project
    emit(client(args).post("/v1/role_assignments", body), args.format)
    return 0


def _remove(args: argparse.Namespace) -> int:
    if not args.system and not args.project:
        raise InvalidInput("give --project P or --system")
    scope = "system:all" if args.system else f"project:{args.project}"
    client(args).delete(f"/v1/role_assignments/{quote(f'{args.user}:{scope}:{args.role}')}")
    print(f"removed role {args.role} from {args.user}")
    return 0


def _list(args: argparse.Namespace) -> int:
    query = {k: v for k, v in (("user", args.user), ("project", args.project)) if v}
    emit(client(args).list_all("/v1/role_assignments", query), args.format, COLUMNS)
    return 0
