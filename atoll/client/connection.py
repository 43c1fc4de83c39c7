"""How every command that talks to the hub finds it: ``--url``/``--ca-file``, then
``ATOLL_URL``/``ATOLL_TOKEN``/``ATOLL_CA_FILE``, then the profile ``--cloud NAME`` (or
``ATOLL_CLOUD``) of clouds.toml, else the saved ``atoll login``
(:meth:`HubClient.from_environment`). The hub's CLI groups and the site agent's
(``--site NAME``) use the same options.

``--cloud`` may come before the group (``atoll --cloud lab image list``) or after the
command; the command's own copy leaves the value alone when it is not given.
"""

from __future__ import annotations

import argparse

from atoll.client.core import HubClient


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="hub URL (default: ATOLL_URL, the profile or saved login)")
    parser.add_argument("--ca-file", help="CA certificate to trust (the hub's ca.pem)")
    parser.add_argument(
        "--cloud", default=argparse.SUPPRESS, metavar="NAME", help="profile of clouds.toml"
    )


def client(args: argparse.Namespace) -> HubClient:
    return HubClient.from_environment(
        url=args.url, ca_file=args.ca_file, cloud=getattr(args, "cloud", None)
    )
