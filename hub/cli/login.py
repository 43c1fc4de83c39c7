"""``atoll login``: get a token and save it (with the URL and CA) for later commands."""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from atoll.cli import Subparsers
from atoll.client import HubClient, Login, save_login
from atoll.output import add_format_option, emit


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("login", help="log in to a hub and save the token")
    parser.add_argument("--url", required=True, help="hub URL, e.g. https://hub:8470")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", help="default: ATOLL_PASSWORD, else asked for (never echoed)")
    parser.add_argument("--project", help="scope the token to this project")
    parser.add_argument("--ca-file", help="the hub's ca.pem (from 'atoll hub init')")
    add_format_option(parser)
    parser.set_defaults(func=_login)


def _login(args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("ATOLL_PASSWORD") or getpass.getpass()
    client = HubClient(args.url, ca_file=args.ca_file)
    body: dict[str, object] = {"user": args.user, "password": password}
    if args.project:
        body["project"] = args.project
    issued = client.post("/v1/auth/tokens", body)
    ca_file = str(Path(args.ca_file).resolve()) if args.ca_file else None
    login = Login(
        client.url, issued["token"], ca_file, args.user, args.project, issued["expires_at"]
    )
    path = save_login(login)
    shown = {k: issued[k] for k in ("user", "project", "system", "roles", "expires_at")}
    emit({**shown, "saved_to": str(path)}, args.format)
    return 0
