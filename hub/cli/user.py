"""``atoll user create|list|show|delete``."""

from __future__ import annotations

import argparse
import getpass
import os

from atoll.cli import Subparsers
from atoll.hub.cli.collection import Collection
from atoll.hub.cli.connection import add_connection_options, client
from atoll.output import add_format_option, emit

COLUMNS = ["name", "enabled", "description", "created_at"]
USERS = Collection("user", COLUMNS)


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("user", help="users")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = cmds.add_parser("create", help="create a user")
    create.add_argument("name")
    create.add_argument("--password", help="default: ATOLL_NEW_PASSWORD, else asked for")
    create.add_argument("--description", default="")
    create.set_defaults(func=_create)
    listing = cmds.add_parser("list", help="list users")
    listing.set_defaults(func=USERS.list)
    show = cmds.add_parser("show", help="show a user")
    show.add_argument("name")
    show.set_defaults(func=USERS.show)
    delete = cmds.add_parser("delete", help="delete a user (revokes its tokens)")
    delete.add_argument("name")
    delete.set_defaults(func=USERS.delete)
    password = cmds.add_parser("password", help="change your own password (logs you out)")
    password.set_defaults(func=_password)
    for cmd in (create, listing, show, delete, password):
        add_connection_options(cmd)
    for cmd in (create, listing, show):
        add_format_option(cmd)


def _create(args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("ATOLL_NEW_PASSWORD") or getpass.getpass()
    body = {"name": args.name, "password": password, "description": args.description}
    emit(client(args).post("/v1/users", body), args.format)
    return 0


def _password(args: argparse.Namespace) -> int:
    current = os.environ.get("ATOLL_PASSWORD") or getpass.getpass("current password: ")
    new = os.environ.get("ATOLL_NEW_PASSWORD") or getpass.getpass("new password: ")
    body = {"current_password": current, "new_password": new}
    client(args).request("POST", "/v1/auth/password", body)
    print("password changed; log in again with 'atoll login'")
    return 0
