"""The local API's policy table: what each route needs, by route name. Unlisted = denied.

The site is run by its operators, not by tenants (:func:`atoll.site_agent.auth.authorize`):
system-scoped tokens only; ``read`` routes take the role admin, member or reader, ``write``
routes admin or member. ``public`` routes take no token; ``metrics`` is public unless the
agent's ``metrics_auth`` setting asks for a reader's token.
"""

from __future__ import annotations

from typing import Literal

Access = Literal["public", "read", "write", "metrics"]

POLICY: dict[str, Access] = {
    "health.show": "public",
    "health.live": "public",
    "health.ready": "public",
    "metrics.show": "metrics",
    "openapi.show": "public",
    "auth.tokens.issue": "public",
    **{
        f"{plural}.{action}": "read" if action in ("list", "show") else "write"
        for plural in ("servers", "networks", "subnets", "volumes")
        for action in ("list", "show", "create", "delete")
    },
    **{f"servers.{a}": "write" for a in ("start", "stop", "reboot", "rebuild")},
    "servers.console": "write",  # what a guest printed (keys, passwords): as Nova, not readers
    **{f"volumes.{a}": "write" for a in ("attach", "detach", "extend", "snapshot")},
    "flavors.list": "read",
    "flavors.show": "read",
    "flavors.create": "write",
    "images.list": "read",
    "images.show": "read",
    "images.create": "write",
    "images.upload": "write",
}
