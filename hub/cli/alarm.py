"""``atoll alarm list|create|show|delete|ack|silence|history``: alarms on the fleet.

``atoll alarm create NAME --type threshold --metric server_cpu_utilization_ratio --gt 0.9
--period 600 --site edge-1 [--label server=ID] [--scope site] [--webhook URL]``;
``atoll alarm create NAME --type site_state --site edge-1 --period 300`` (offline that long).
``--scope site`` sends the rule down to its site, which evaluates it even while cut off.
"""

from __future__ import annotations

import argparse

from atoll.cli import Subparsers
from atoll.client import quote
from atoll.errors import InvalidInput, Problem
from atoll.hub.cli.connection import add_connection_options, client
from atoll.jsonbody import JSON
from atoll.output import add_format_option, emit

COLUMNS = ["id", "name", "site", "scope", "type", "state", "severity", "acknowledged",
           "state_timestamp"]  # fmt: skip
HISTORY_COLUMNS = ["timestamp", "type", "previous", "state", "source", "reason"]
COMPARISONS = ("gt", "ge", "lt", "le")


def register(groups: Subparsers) -> None:
    parser = groups.add_parser("alarm", help="alarms on fleet telemetry and site state")
    cmds = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = cmds.add_parser("list", help="list alarms")
    listing.add_argument("--state", choices=["ok", "alarm", "insufficient_data"])
    listing.add_argument("--site")
    listing.set_defaults(func=_list)
    create = cmds.add_parser("create", help="create an alarm")
    create.add_argument("name")
    create.add_argument("--type", choices=["threshold", "site_state"], default="threshold")
    create.add_argument("--scope", choices=["hub", "site"], default="hub")
    create.add_argument("--site", help="the site it watches (default: every site)")
    create.add_argument("--metric", help="threshold: the metric (e.g. host_memory_available_bytes)")
    create.add_argument("--label", action="append", default=[], metavar="KEY=VALUE",
                        help="threshold: only series with this label (again for more)")  # fmt: skip
    create.add_argument("--statistic", choices=["avg", "min", "max", "rate"], default="avg")
    for op in COMPARISONS:
        create.add_argument(f"--{op}", type=float, metavar="VALUE", help=f"threshold: {op} VALUE")
    create.add_argument("--period", type=float, help="seconds the condition must last")
    create.add_argument("--severity", choices=["low", "moderate", "critical"])
    create.add_argument("--webhook", action="append", default=[], metavar="URL")
    create.add_argument("--description")
    create.set_defaults(func=_create)
    show = cmds.add_parser("show", help="show an alarm")
    show.add_argument("id")
    show.set_defaults(func=_show)
    delete = cmds.add_parser("delete", help="delete an alarm")
    delete.add_argument("id")
    delete.set_defaults(func=_delete)
    ack = cmds.add_parser("ack", help="acknowledge an alarm")
    ack.add_argument("id")
    ack.set_defaults(func=_ack)
    silence = cmds.add_parser("silence", help="no webhooks for a while (0: lift)")
    silence.add_argument("id")
    silence.add_argument("seconds", type=int)
    silence.set_defaults(func=_silence)
    history = cmds.add_parser("history", help="an alarm's state changes, oldest first")
    history.add_argument("id")
    history.set_defaults(func=_history)
    for cmd in (listing, create, show, delete, ack, silence, history):
        add_connection_options(cmd)
        add_format_option(cmd)


def _list(args: argparse.Namespace) -> int:
    query = {k: v for k, v in (("state", args.state), ("site", args.site)) if v}
    emit(client(args).list_all("/v1/alarms", query or None), args.format, COLUMNS)
    return 0


def rule_of(args: argparse.Namespace) -> JSON:
    """The rule the flags describe."""
    rule: JSON = {}
    if args.period is not None:
        rule["period"] = args.period
    if args.type == "site_state":
        return {"state": "offline", **rule}
    given = [(op, getattr(args, op)) for op in COMPARISONS if getattr(args, op) is not None]
    if not args.metric or len(given) != 1:
        raise InvalidInput(
            "a threshold alarm needs --metric and one of --gt, --ge, --lt, --le",
            [Problem("--metric" if not args.metric else "--gt", "is required")],
        )
    labels = {}
    for item in args.label:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput("a label is KEY=VALUE", [Problem("--label", f"{item!r}")])
        labels[key] = value
    comparison, threshold = given[0]
    return {"metric": args.metric, "labels": labels, "statistic": args.statistic,
            "comparison": comparison, "threshold": threshold, **rule}  # fmt: skip


def _create(args: argparse.Namespace) -> int:
    body: JSON = {"name": args.name, "type": args.type, "scope": args.scope,
                  "rule": rule_of(args)}  # fmt: skip
    for key, value in (("site", args.site), ("severity", args.severity),
                       ("description", args.description)):  # fmt: skip
        if value:
            body[key] = value
    if args.webhook:
        body["webhooks"] = args.webhook
    emit(client(args).post("/v1/alarms", body), args.format)
    return 0


def _show(args: argparse.Namespace) -> int:
    emit(client(args).get(f"/v1/alarms/{quote(args.id)}"), args.format)
    return 0


def _delete(args: argparse.Namespace) -> int:
    client(args).delete(f"/v1/alarms/{quote(args.id)}")
    return 0


def _ack(args: argparse.Namespace) -> int:
    emit(client(args).post(f"/v1/alarms/{quote(args.id)}/acknowledge", {}), args.format)
    return 0


def _silence(args: argparse.Namespace) -> int:
    body = {"seconds": args.seconds}
    emit(client(args).post(f"/v1/alarms/{quote(args.id)}/silence", body), args.format)
    return 0


def _history(args: argparse.Namespace) -> int:
    path = f"/v1/alarms/{quote(args.id)}/history"
    emit(client(args).list_all(path), args.format, HISTORY_COLUMNS)
    return 0
