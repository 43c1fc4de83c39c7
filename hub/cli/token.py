"""``atoll token issue|show|revoke``."""

from __future__ import annotations

import argparse

from atoll.cli import Subparsers
from atoll.hub.cli.connection import add_connection_options, client
from atoll.output import add_format_option, emit


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("token", help="tokens: issue one, show the current one, revoke")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    issue = cmds.add_parser("issue", help="issue a new token from the current one")
    issue.add_argument("--project", help="scope (default: the current token's)")
    add_connection_options(issue)
    add_format_option(issue)
    issue.set_defaults(func=_issue)
    show = cmds.add_parser("show", help="show what the current token carries")
    add_connection_options(show)
    add_format_option(show)
    show.set_defaults(func=_show)
    revoke = cmds.add_parser("revoke", help="revoke the current token (log out)")
    add_connection_options(revoke)
    revoke.set_defaults(func=_revoke)


def _issue(args: argparse.Namespace) -> int:
    hub = client(args)
    current = hub.get("/v1/auth/tokens/current")
    project = args.project or current["project"]
    issued = hub.post("/v1/auth/tokens", {"token": hub.token, "project": project})
    emit(issued, args.format)
    return 0


def _show(args: argparse.Namespace) -> int:
    emit(client(args).get("/v1/auth/tokens/current"), args.format)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    client(args).delete("/v1/auth/tokens/current")
    print("token revoked")
    return 0
