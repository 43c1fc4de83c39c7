"""``/v1/servers``: create, list, show, delete; actions start/stop/reboot/rebuild; console."""

from __future__ import annotations

import re

from aiohttp import web

from atoll.api.bodies import Wrapped
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.errors import InvalidInput, Problem
from atoll.resources import ServerSpec
from atoll.site_agent import specs
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX
from atoll.site_agent.api.objects import REF, crud, reply, view
from atoll.site_agent.console import Consoles
from atoll.site_agent.resources import Resources
from atoll.site_agent.views import HIDDEN

NIC = Shape(
    "ServerNic",
    {
        "network": Field("string", required=True),
        "port": Field("string", required=True),
        "mac": Field("string", required=True),
        "ip": Field("string", required=True, nullable=True),
        "vnic_type": Field("string", required=True, enum=("normal", "direct")),
    },
)
SERVER = view(
    "server",
    ServerSpec,
    HIDDEN,
    networks=Field("array", items=Field("object", shape=NIC), description="its NICs as made"),
    power_state=Field("string", description="as the hypervisor reports it"),
    restarts=Field("integer", description="restarts by the restart policy"),
    launched_at=Field(
        "string",
        nullable=True,
        description="when its last build was first ACTIVE (started and wired), UTC to the "
        "microsecond, as Nova's OS-SRV-USG:launched_at; null until then",
    ),
)
SERVER_REPLY = Wrapped("server", SERVER)
ACTIONS = {
    "start": Shape("ServerStart", {}),
    "stop": Shape("ServerStop", {}),
    "reboot": Shape("ServerReboot", {"hard": Field("boolean", description="power-cycle")}),
    "rebuild": Shape(
        "ServerRebuild",
        {"image": Field("string", max_length=64, description="another image (default: its own)")},
    ),
}
CONSOLE = Shape(
    "ServerConsole",
    {
        "console": Field(
            "object",
            required=True,
            shape=Shape(
                "ConsoleLog",
                {
                    "server": Field("string", required=True),
                    "output": Field("string", required=True),
                },
            ),
        )
    },
)
MAX_TAIL = 1 << 20
MAX_LINES = 10000  # as the hub's console (atoll.sync.frames.MAX_CONSOLE_LINES)
TAIL = Field(
    "integer",
    minimum=1,
    maximum=MAX_TAIL,
    description="bytes from the end (65536; with lines: the most read, 1 MiB)",
)
LINES = Field(
    "integer",
    minimum=1,
    maximum=MAX_LINES,
    description="the last lines, from a whole line (default: the bytes of tail as they are)",
)


def action(name: str, shape: Shape) -> Route:
    async def act(request: web.Request) -> web.Response:
        body = shape.validate(await json_object(request, optional=True))
        ctx = request.app[CTX]
        server = await ctx.resources.server_action(request.match_info["ref"], name, body)
        return reply({"server": server}, status=202)

    return Route(
        "POST",
        f"/v1/servers/{{ref}}/actions/{name}",
        f"servers.{name}",
        act,
        f"{name.capitalize()} a server (202)",
        body=shape,
        response=SERVER_REPLY,
        status=202,
        path_params=REF,
    )


async def console(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    tail = _count(request, "tail", MAX_TAIL)
    lines = _count(request, "lines", MAX_LINES)
    consoles = Consoles(ctx.resources, ctx.console)
    max_bytes = tail or (MAX_TAIL if lines else 65536)
    log = await consoles.read(request.match_info["ref"], max_bytes=max_bytes, lines=lines)
    return reply({"console": {"server": log.server_id, "output": log.output}})


def _count(request: web.Request, name: str, high: int) -> int | None:
    """Query parameter ``name``: a whole number from 1 to ``high``, or None if not given."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,7}", raw) or not 1 <= int(raw) <= high:
        raise InvalidInput(
            "the query is not valid",
            [Problem(f"query.{name}", f"must be a whole number from 1 to {high}")],
        )
    return int(raw)


ROUTES = crud("server", "servers", Resources.create_server, specs.SERVER, SERVER, created=202)
ROUTES += [action(name, shape) for name, shape in ACTIONS.items()]
ROUTES.append(
    Route(
        "GET",
        "/v1/servers/{ref}/console",
        "servers.console",
        console,
        "The server's serial console log",
        response=CONSOLE,
        path_params=REF,
        query={"tail": TAIL, "lines": LINES},
    )
)
