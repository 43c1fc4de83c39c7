"""How every command that talks to the hub finds it: flags, then ATOLL_* variables, then the
saved login (``atoll login``). The hub's CLI groups and the site agent's (``--site NAME``)
use the same options."""

from __future__ import annotations

import argparse

from atoll.client.core import HubClient


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="hub URL (default: ATOLL_URL or the saved login)")
    parser.add_argument("--ca-file", help="CA certificate to trust (the hub's ca.pem)")


def client(args: argparse.Namespace) -> HubClient:
    return HubClient.from_environment(url=args.url, ca_file=args.ca_file)
