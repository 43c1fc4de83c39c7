"""``atoll login``: get a token and save it (with the URL and CA) for later commands.

Without a profile the login goes to ``login.json`` (:mod:`atoll.client.login`); with
``--cloud NAME`` (or ``ATOLL_CLOUD``) into profile NAME of clouds.toml, whose URL, CA, user
and project are the defaults of the flags (:mod:`atoll.client.profiles`). A password or an
application credential secret is never saved.
"""

from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from atoll.cli import Subparsers
from atoll.client import HubClient, Login, Profile, save_login, save_profile
from atoll.client.profiles import cloud_name, find_profile
from atoll.errors import InvalidInput, Problem
from atoll.jsonbody import JSON
from atoll.output import add_format_option, emit


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("login", help="log in to a hub and save the token")
    parser.add_argument("--url", help="hub URL, e.g. https://hub:8470 (default: the profile's)")
    parser.add_argument("--user", help="default: the profile's")
    parser.add_argument("--password", help="default: ATOLL_PASSWORD, else asked for (never echoed)")
    parser.add_argument("--project", help="scope the token to this project")
    parser.add_argument("--ca-file", help="the hub's ca.pem (from 'atoll hub init')")
    parser.add_argument(
        "--application-credential-id",
        metavar="ID",
        help="log in with an application credential (its secret: "
        "ATOLL_APPLICATION_CREDENTIAL_SECRET, else asked for)",
    )
    parser.add_argument(
        "--cloud",
        default=argparse.SUPPRESS,
        metavar="NAME",
        help="save into profile NAME of clouds.toml (or ATOLL_CLOUD) instead of login.json",
    )
    add_format_option(parser)
    parser.set_defaults(func=_login)


def _credentials(args: argparse.Namespace, user: str | None, project: str | None) -> JSON:
    if args.application_credential_id:
        secret = os.environ.get("ATOLL_APPLICATION_CREDENTIAL_SECRET") or getpass.getpass(
            "application credential secret: "
        )
        return {
            "application_credential_id": args.application_credential_id,
            "application_credential_secret": secret,
        }
    if not user:
        raise InvalidInput("whom to log in as?", [Problem("--user", "missing")])
    password = args.password or os.environ.get("ATOLL_PASSWORD") or getpass.getpass()
    body: JSON = {"user": user, "password": password}
    if project:
        body["project"] = project
    return body


def _login(args: argparse.Namespace) -> int:
    cloud = cloud_name(getattr(args, "cloud", None))
    known = (find_profile(cloud) if cloud else None) or Profile(cloud or "")
    url = args.url or known.url
    if not url:
        raise InvalidInput("which hub?", [Problem("--url", "missing (no profile gives one)")])
    ca_file = str(Path(args.ca_file).resolve()) if args.ca_file else known.ca_file
    user, project = args.user or known.user, args.project or known.project
    client = HubClient(url, ca_file=ca_file)
    issued = client.post("/v1/auth/tokens", _credentials(args, user, project))
    user, project = issued["user"], issued["project"]
    if cloud:
        saved = Profile(
            cloud,
            url=client.url,
            ca_file=ca_file,
            user=user,
            project=project,
            token=issued["token"],
            expires_at=issued["expires_at"],
            application_credential_id=args.application_credential_id,
        )
        path = save_profile(saved)
    else:
        login = Login(client.url, issued["token"], ca_file, user, project, issued["expires_at"])
        path = save_login(login)
    shown = {k: issued[k] for k in ("user", "project", "system", "roles", "expires_at")}
    emit({**shown, "saved_to": str(path)}, args.format)
    return 0
