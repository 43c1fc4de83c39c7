"""``atoll site list|show|delete`` and ``atoll site token create NAME [--ttl]|list|revoke``."""

from __future__ import annotations

import argparse

from atoll.cli import Subparsers
from atoll.client import quote
from atoll.hub.cli.connection import add_connection_options, client
from atoll.output import add_format_option, emit

COLUMNS = ["name", "region", "state", "last_seen", "labels"]
TOKEN_COLUMNS = ["id", "site", "expires_at", "used_at", "created_by"]


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("site", help="the site registry and join tokens")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = cmds.add_parser("list", help="list sites")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show a site")
    show.add_argument("name")
    show.set_defaults(func=_show)
    delete = cmds.add_parser("delete", help="remove a site from the registry")
    delete.add_argument("name")
    delete.set_defaults(func=_delete)
    token = cmds.add_parser("token", help="one-time join tokens")
    tokens = token.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = tokens.add_parser("create", help="create a join token for site NAME")
    create.add_argument("name")
    create.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    create.set_defaults(func=_token_create)
    token_list = tokens.add_parser("list", help="list join tokens")
    token_list.set_defaults(func=_token_list)
    revoke = tokens.add_parser("revoke", help="revoke a join token")
    revoke.add_argument("id")
    revoke.set_defaults(func=_token_revoke)
    for cmd in (listing, show, delete, create, token_list, revoke):
        add_connection_options(cmd)
    for cmd in (listing, show, create, token_list):
        add_format_option(cmd)


def _list(args: argparse.Namespace) -> int:
    emit(client(args).list_all("/v1/sites"), args.format, COLUMNS)
    return 0


def _show(args: argparse.Namespace) -> int:
    emit(client(args).get(f"/v1/sites/{quote(args.name)}"), args.format)
    return 0


def _delete(args: argparse.Namespace) -> int:
    client(args).delete(f"/v1/sites/{quote(args.name)}")
    print(f"deleted site {args.name}")
    return 0


def _token_create(args: argparse.Namespace) -> int:
    reply = client(args).post("/v1/join_tokens", {"site": args.name, "ttl": args.ttl})
    emit(reply, args.format)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    emit(client(args).list_all("/v1/join_tokens"), args.format, TOKEN_COLUMNS)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    client(args).delete(f"/v1/join_tokens/{quote(args.id)}")
    print(f"revoked join token {args.id}")
    return 0
