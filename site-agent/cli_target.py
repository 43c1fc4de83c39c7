"""Where ``atoll server|network|volume ...`` goes: one agent directly, or a site through the hub.

- ``--site-url URL`` (or ``ATOLL_SITE_URL``; the default): the agent's local API, with a
  local or hub token (``--token`` / ``ATOLL_SITE_TOKEN``). What a field engineer uses, also
  while the site is cut off from the hub.
- ``--site NAME``: the hub's intent for that site, ``/v1/sites/{NAME}/servers|networks|
  subnets|volumes``, with the hub connection the hub's commands use (``--url``,
  ``--ca-file``, ``ATOLL_URL``/``ATOLL_TOKEN``, the saved ``atoll login``). The hub keeps the
  intent and syncs it to the site. System admins name the owning ``--project``.

Both take the same spec (the typed model's fields, :mod:`atoll.resources`): the agent reads
``{"name", ...spec}``, the hub ``{"name", "spec": {...}, "project"?}``. Both answer lists as
``{"items", "next_marker"}``; a hub object carries its spec and the site's last report, which
:meth:`HubTarget.row` lays out like an agent's view for the tables. A server's console log
comes from the agent's ``GET /v1/servers/{ref}/console`` (its last bytes, or lines) or the
hub's ``POST /v1/sites/{NAME}/servers/{ref}/console`` (its last lines, read at the site).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from atoll.client import Client, quote
from atoll.client.connection import add_connection_options
from atoll.client.connection import client as hub_client
from atoll.errors import InvalidInput, Problem
from atoll.jsonbody import JSON
from atoll.site_agent.client import SiteClient

DEFAULT_URL = "http://127.0.0.1:8471"
HUB_ACTIONS = {"server": ("start", "stop", "reboot")}  # what the hub's per-site routes take


class Target(Protocol):
    def list(self, kind: str) -> list[JSON]: ...

    def show(self, kind: str, ref: str) -> JSON: ...

    def create(self, kind: str, name: str | None, spec: JSON) -> JSON: ...

    def delete(self, kind: str, ref: str) -> None: ...

    def action(self, kind: str, ref: str, action: str, body: JSON) -> JSON: ...

    def console(self, ref: str, lines: int | None, tail: int | None) -> tuple[str, bool]:
        """Server ``ref``'s console log (its last ``lines`` lines, or ``tail`` bytes), and
        whether lines asked for were left out to fit."""
        ...

    def row(self, obj: JSON) -> JSON: ...


def add_target_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("where (one agent, or a site through the hub)")
    where.add_argument(
        "--site-url",
        default=None,
        help=f"the agent's API (or ATOLL_SITE_URL; default {DEFAULT_URL})",
    )
    where.add_argument(
        "--site-ca-file",
        default=os.environ.get("ATOLL_SITE_CA_FILE") or None,
        help="CA certificate to verify an https:// agent with (or ATOLL_SITE_CA_FILE)",
    )
    where.add_argument(
        "--token",
        default=os.environ.get("ATOLL_SITE_TOKEN"),
        help="the agent's bearer token (or ATOLL_SITE_TOKEN)",
    )
    where.add_argument(
        "--site", help="a site's name: go through the hub (--url, ATOLL_URL, atoll login)"
    )
    add_connection_options(parser)


@dataclass(frozen=True)
class AgentTarget:
    """One agent's local API: ``/v1/<kind>s``, objects under their kind's key."""

    client: SiteClient

    def list(self, kind: str) -> list[JSON]:
        return self.client.list_all(f"/v1/{kind}s")

    def show(self, kind: str, ref: str) -> JSON:
        found: JSON = self.client.get(f"/v1/{kind}s/{quote(ref)}")[kind]
        return found

    def create(self, kind: str, name: str | None, spec: JSON) -> JSON:
        body = {**({"name": name} if name else {}), **spec}
        made: JSON = self.client.post(f"/v1/{kind}s", body)[kind]
        return made

    def delete(self, kind: str, ref: str) -> None:
        self.client.delete(f"/v1/{kind}s/{quote(ref)}")

    def action(self, kind: str, ref: str, action: str, body: JSON) -> JSON:
        path = f"/v1/{kind}s/{quote(ref)}/actions/{action}"
        done: JSON = self.client.post(path, body)[kind]
        return done

    def console(self, ref: str, lines: int | None, tail: int | None) -> tuple[str, bool]:
        query = {k: v for k, v in (("tail", tail), ("lines", lines)) if v is not None}
        path = f"/v1/servers/{quote(ref)}/console" + (f"?{urlencode(query)}" if query else "")
        return str(self.client.get(path)["console"]["output"]), False

    def row(self, obj: JSON) -> JSON:
        return obj


@dataclass(frozen=True)
class HubTarget:
    """The hub's intent for one site: ``/v1/sites/{site}/<kind>s``."""

    client: Client
    site: str
    project: str | None = None

    def base(self, kind: str) -> str:
        return f"/v1/sites/{quote(self.site)}/{kind}s"

    def list(self, kind: str) -> list[JSON]:
        return self.client.list_all(self.base(kind))

    def show(self, kind: str, ref: str) -> JSON:
        found: JSON = self.client.get(f"{self.base(kind)}/{quote(ref)}")
        return found

    def create(self, kind: str, name: str | None, spec: JSON) -> JSON:
        body: JSON = {"name": name, "spec": spec}
        if self.project:
            body["project"] = self.project
        made: JSON = self.client.post(self.base(kind), body)
        return made

    def delete(self, kind: str, ref: str) -> None:
        self.client.delete(f"{self.base(kind)}/{quote(ref)}")

    def action(self, kind: str, ref: str, action: str, body: JSON) -> JSON:
        if action not in HUB_ACTIONS.get(kind, ()):
            raise InvalidInput(
                f"the hub does not take '{kind} {action}' for a site yet",
                [Problem("--site", f"use --site-url to reach the agent for {action}")],
            )
        path = f"{self.base(kind)}/{quote(ref)}/{action}"
        done: JSON = self.client.post(path, body)
        return done

    def console(self, ref: str, lines: int | None, tail: int | None) -> tuple[str, bool]:
        if tail is not None:
            raise InvalidInput(
                "the hub reads a console by lines",
                [Problem("--tail", "give --lines N through the hub (--tail: an agent's bytes)")],
            )
        body = {} if lines is None else {"length": lines}
        out = self.client.post(f"{self.base('server')}/{quote(ref)}/console", body)
        return str(out["output"]), bool(out.get("truncated"))

    def row(self, obj: JSON) -> JSON:
        """The columns an agent's view has: the spec's fields, ``status`` the site's state,
        and a server's ``networks`` (its addresses as the site last reported them)."""
        status = obj.get("status") or {}
        row: JSON = {
            **(obj.get("spec") or {}),
            "id": obj.get("id"),
            "name": obj.get("name"),
            "status": status.get("state", "PENDING"),
            "origin": obj.get("origin"),
            "conflict": obj.get("conflict"),
        }
        if obj.get("kind") == "server":
            row["networks"] = (status.get("facts") or {}).get("addresses", [])
        return row


def target(args: argparse.Namespace) -> Target:
    if args.site:
        if args.site_url:
            raise InvalidInput(
                "say where to go once",
                [Problem("--site", "give --site (through the hub) or --site-url, not both")],
            )
        return HubTarget(hub_client(args), args.site, getattr(args, "project", None))
    url = args.site_url or os.environ.get("ATOLL_SITE_URL") or DEFAULT_URL
    return AgentTarget(SiteClient(url, args.token, ca_file=args.site_ca_file))
