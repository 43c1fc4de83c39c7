"""``atoll site list|show|create|set|delete|discover``; ``atoll site token create|list|revoke``.

``site token create NAME`` prints the join code (one line for ``atoll site-agent join``;
``-f json`` shows the whole token record). ``site discover`` lists the site agents on the
local network that have not joined a hub yet (their zeroconf adverts).
"""

from __future__ import annotations

import argparse
from typing import Any

from atoll.cli import Subparsers
from atoll.client import quote
from atoll.errors import InvalidInput, Problem
from atoll.hub.cli.collection import Collection
from atoll.hub.cli.connection import add_connection_options, client
from atoll.output import add_format_option, emit
from atoll.timestamps import iso

COLUMNS = ["name", "region", "state", "last_seen", "labels"]
# what ``atoll site list`` shows of each site's sync figures (see hub.sites.registry)
SYNC_COLUMNS = ["acked_revision", "pending_changes", "acked_seq", "outbox", "repairs", "sessions"]
TOKEN_COLUMNS = ["id", "site", "expires_at", "used_at", "created_by"]
SITES = Collection("site", COLUMNS)


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """``3600``, ``90s``, ``30m``, ``1h`` or ``7d`` as whole seconds (an argparse type)."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in UNITS else (text, "s")
    if not (number.isascii() and number.isdigit()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: give seconds (3600) or a number with s, m, h or d (1h)"
        )
    return int(number) * UNITS[unit]


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("site", help="the site registry and join tokens")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = cmds.add_parser("list", help="list sites")
    listing.set_defaults(func=_list)
    show = cmds.add_parser("show", help="show a site")
    show.add_argument("name")
    show.set_defaults(func=SITES.show)
    delete = cmds.add_parser("delete", help="remove a site from the registry")
    delete.add_argument("name")
    delete.set_defaults(func=SITES.delete)
    create_site = cmds.add_parser("create", help="register a site ahead of its enrollment")
    create_site.add_argument("name")
    setter = cmds.add_parser("set", help="change a site's region, labels, location or state")
    setter.add_argument("name")
    setter.add_argument(
        "--state", choices=["maintenance", "offline"], help="offline ends maintenance"
    )
    for cmd in (create_site, setter):
        cmd.add_argument("--region")
        cmd.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
        cmd.add_argument("--lat", type=float, help="latitude (with --lon)")
        cmd.add_argument("--lon", type=float, help="longitude (with --lat)")
        cmd.add_argument("--description")
    create_site.set_defaults(func=_create)
    setter.set_defaults(func=_set)
    token = cmds.add_parser("token", help="one-time join tokens")
    tokens = token.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = tokens.add_parser("create", help="create a join token for site NAME")
    create.add_argument("name")
    create.add_argument(
        "--ttl",
        type=duration,
        default=3600,
        metavar="DURATION",
        help="seconds, or with a unit: 90s, 30m, 1h, 7d (default 3600)",
    )
    create.set_defaults(func=_token_create)
    token_list = tokens.add_parser("list", help="list join tokens")
    token_list.set_defaults(func=_token_list)
    revoke = tokens.add_parser("revoke", help="revoke a join token")
    revoke.add_argument("id")
    revoke.set_defaults(func=_token_revoke)
    discover = cmds.add_parser("discover", help="list unjoined site agents on the local network")
    discover.add_argument(
        "--timeout", type=float, default=3.0, help="seconds to listen for adverts (default 3)"
    )
    discover.set_defaults(func=_discover)
    events = cmds.add_parser("events", help="what a site reported (errors, restarts, holds)")
    operations = cmds.add_parser(
        "operations", help="what was done at a site itself, and what the hub did with it"
    )
    for cmd, func in ((events, _events), (operations, _operations)):
        cmd.add_argument("name")
        cmd.set_defaults(func=func)
    history = (events, operations)
    for cmd in (listing, show, delete, create_site, setter, create, token_list, revoke, *history):
        add_connection_options(cmd)
    for cmd in (listing, show, create_site, setter, create, token_list, discover, *history):
        add_format_option(cmd)


EVENT_COLUMNS = ["seq", "at", "reason", "kind", "id", "message"]
OPERATION_COLUMNS = ["seq", "at", "actor", "op", "kind", "id", "outcome"]


def _when(row: dict[str, Any]) -> dict[str, Any]:
    """A site's ``at`` (epoch seconds on the site's clock) as UTC text, for people."""
    at = row.get("at")
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        row["at"] = iso(at)
    return row


def _events(args: argparse.Namespace) -> int:
    rows = client(args).list_all(f"/v1/sites/{quote(args.name)}/events")
    flat = [{"seq": r["seq"], **r["event"]} for r in rows]
    emit(flat if args.format == "json" else [_when(r) for r in flat], args.format, EVENT_COLUMNS)
    return 0


def _operations(args: argparse.Namespace) -> int:
    rows = client(args).list_all(f"/v1/sites/{quote(args.name)}/operations")
    flat = [{**r["operation"], "seq": r["seq"], "outcome": r["outcome"]} for r in rows]
    shown = flat if args.format == "json" else [_when(r) for r in flat]
    emit(shown, args.format, OPERATION_COLUMNS)
    return 0


def _fields(args: argparse.Namespace) -> dict[str, object]:
    body: dict[str, object] = {}
    if args.region:
        body["region"] = args.region
    if args.description is not None:
        body["description"] = args.description
    if args.label:
        pairs = [label.partition("=") for label in args.label]
        bad = [label for label, (_, sep, _) in zip(args.label, pairs, strict=True) if not sep]
        if bad:
            raise InvalidInput("labels are KEY=VALUE", [Problem("--label", b) for b in bad])
        body["labels"] = {k: v for k, _, v in pairs}
    if (args.lat is None) != (args.lon is None):
        raise InvalidInput("give both --lat and --lon", [Problem("--lat/--lon", "only one given")])
    if args.lat is not None:
        body["location"] = {"latitude": args.lat, "longitude": args.lon}
    return body


def _list(args: argparse.Namespace) -> int:
    """Sites with their sync figures beside them (the whole record in json/yaml)."""
    sites = client(args).list_all(SITES.path)
    if args.format != "table":
        emit(sites, args.format)
        return 0
    rows = []
    for site in sites:
        sync = site.get("sync") or {}
        outbox = max(int(sync.get("sent_seq") or 0) - int(sync.get("acked_seq") or 0), 0)
        figures = {key: sync.get(key) for key in SYNC_COLUMNS} | {"outbox": outbox}
        rows.append({**{key: site.get(key) for key in COLUMNS}, **figures})
    emit(rows, args.format, COLUMNS[:4] + SYNC_COLUMNS)
    return 0


def _create(args: argparse.Namespace) -> int:
    emit(client(args).post("/v1/sites", {"name": args.name, **_fields(args)}), args.format)
    return 0


def _set(args: argparse.Namespace) -> int:
    body = _fields(args)
    if args.state:
        body["state"] = args.state
    emit(client(args).patch(f"/v1/sites/{quote(args.name)}", body), args.format)
    return 0


def _token_create(args: argparse.Namespace) -> int:
    reply = client(args).post("/v1/join_tokens", {"site": args.name, "ttl": args.ttl})
    if args.format == "json" or not reply.get("code"):
        emit(reply, args.format)
        return 0
    print(reply["code"])
    return 0


DISCOVER_COLUMNS = ["name", "address", "port", "version", "fingerprint"]


def _discover(args: argparse.Namespace) -> int:
    import asyncio

    from atoll.sync import discovery

    found = asyncio.run(discovery.browse(discovery.SITE_SERVICE, args.timeout))
    rows = [
        {
            "name": f.properties.get("name", f.name),
            "address": f.address,
            "port": f.port,
            "version": f.properties.get("version", ""),
            "fingerprint": f.properties.get("fp", ""),
        }
        for f in found
    ]
    emit(rows, args.format, DISCOVER_COLUMNS)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    emit(client(args).list_all("/v1/join_tokens"), args.format, TOKEN_COLUMNS)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    client(args).delete(f"/v1/join_tokens/{quote(args.id)}")
    print(f"revoked join token {args.id}")
    return 0
