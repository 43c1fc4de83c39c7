"""``POST /v1/sites/{site}/servers/{id}/console``: a server's console log, read at its site.

What Nova's ``os-getConsoleOutput`` action gives (``openstack console log show --lines N``):
the last ``length`` lines (default :data:`DEFAULT_LINES`, at most
:data:`atoll.sync.frames.MAX_CONSOLE_LINES`) of the server's serial console log, as the
guest wrote them. The hub keeps no console: it asks the site over the site's sync session
(:mod:`atoll.hub.sync.console`) and waits at most ``[hub] sync_request_timeout`` seconds.
Any hub process sharing the store answers: one that does not hold the site's session
relays the request through the store to the one that does (:mod:`atoll.hub.sync.relay`),
after this handler has checked who may read the server; what is relayed is that server's
id, its site and the lines, nothing else the caller wrote.

Who may read it is who may read the server (``site_servers.show``'s rule; another
project's server is a 404, as its GET is). The answer::

    {"server": id, "site": name, "output": "...", "lines": N,
     "truncated": true when lines asked for were left out to fit the site's reply}

A site that is not connected is a 503 (``site_not_connected``: its record says so, or no
hub process holding its session took the request in time), one whose agent is too old to
be asked a 409 (``site_too_old``), one that does not answer in time a 504
(``site_timeout``); a server the site has no console of yet (not built there) a 409
(``no_console``); too many requests to the site waiting a 503 (``site_busy``). The answers
are the same whichever hub process holds the session.
"""

from __future__ import annotations

from aiohttp import web

from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import path_name, read_body, reply
from atoll.hub.api.site_objects import ONE, find, site_record
from atoll.hub.sync.console import RELAY, read_console
from atoll.hub.sync.server import SERVER
from atoll.sync.frames import MAX_CONSOLE_LINES

DEFAULT_LINES = 100

BODY = Shape(
    "ServerConsoleRequest",
    {
        "length": Field(
            "integer",
            minimum=1,
            maximum=MAX_CONSOLE_LINES,
            description=f"the last lines to show ({DEFAULT_LINES}), as Nova's "
            "os-getConsoleOutput length",
        )
    },
)
OUTPUT = Shape(
    "ServerConsoleOutput",
    {
        "server": Field("string", required=True, description="the server's id"),
        "site": Field("string", required=True, description="the site's name"),
        "output": Field("string", required=True, description="the log's last lines, as the "
                        "guest wrote them (control characters too: escape before showing)"),
        "lines": Field("integer", required=True, description="lines in output"),
        "truncated": Field("boolean", required=True, description="lines asked for were left "
                           "out to fit the site's reply (at most sync_max_frame bytes)"),
    },
)  # fmt: skip


async def console(request: web.Request) -> web.Response:
    hub = hub_of(request)
    site = await site_record(hub.store, path_name(request, "site"))
    record = await find(hub.store, claims_of(request), site, "server", request.match_info["id"])
    body = await read_body(request, BODY) if request.can_read_body else {}
    lines = int(body.get("length", DEFAULT_LINES))
    server_id = str(record.value["id"])
    # what was authorized, and only that, is asked (relayed, if another process holds the
    # site's session): the server's id, at this site
    got = await read_console(request.app[SERVER], request.app[RELAY], site, server_id, lines,
                             hub.settings.sync_request_timeout)  # fmt: skip
    count = got.output.count("\n") + (0 if got.output.endswith("\n") or not got.output else 1)
    return reply({"server": server_id, "site": site["name"], "output": got.output,
                  "lines": count, "truncated": got.truncated})  # fmt: skip


ROUTES = [
    Route("POST", "/v1/sites/{site}/servers/{id}/console", "site_servers.console", console,
          "A server's console log: its last lines, read at its site",
          description="body (optional): {\"length\": lines, 1-10000, default 100}. The hub "
          "asks the site over its sync session (through the hub process holding it, if "
          "another does): 503 if the site is not connected, 409 if its "
          "agent is too old for it or the server has no console there yet, 504 if the site "
          "does not answer within sync_request_timeout.",
          body=BODY, response=OUTPUT, path_params=ONE,
          errors={503: "the site is not connected (or busy, or could not read the console)",
                  504: "the site did not answer within sync_request_timeout"}),
]  # fmt: skip
