"""``atoll conflict list|show|resolve ID --keep site|hub``: site changes the hub held.

A conflict is a change a site made while cut off (a field engineer, a local heal) to an
object the hub changed too; the hub holds its own intent for that object until you choose.
``--keep hub`` sends the hub's intent again with ``override`` (the site applies it over its
own change); ``--keep site`` adopts the site's version.
"""

from __future__ import annotations

import argparse

from atoll.cli import Subparsers
from atoll.client import quote
from atoll.hub.cli.connection import add_connection_options, client
from atoll.output import add_format_option, emit

COLUMNS = ["id", "site", "kind", "object_id", "name", "op", "state", "created_at"]


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("conflict", help="site changes the hub could not adopt")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = cmds.add_parser("list", help="list conflicts")
    listing.add_argument("--state", choices=["open", "resolved"], help="only these")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show a conflict: both versions")
    show.add_argument("id")
    show.set_defaults(func=_show)
    resolve = cmds.add_parser("resolve", help="keep the site's version or the hub's")
    resolve.add_argument("id")
    resolve.add_argument("--keep", choices=["site", "hub"], required=True)
    resolve.set_defaults(func=_resolve)
    for cmd in (listing, show, resolve):
        add_connection_options(cmd)
        add_format_option(cmd)


def _list(args: argparse.Namespace) -> int:
    query = {"state": args.state} if args.state else None
    emit(client(args).list_all("/v1/conflicts", query), args.format, COLUMNS)
    return 0


def _show(args: argparse.Namespace) -> int:
    emit(client(args).get(f"/v1/conflicts/{quote(args.id)}"), args.format)
    return 0


def _resolve(args: argparse.Namespace) -> int:
    path = f"/v1/conflicts/{quote(args.id)}/resolve"
    emit(client(args).post(path, {"keep": args.keep}), args.format)
    return 0
