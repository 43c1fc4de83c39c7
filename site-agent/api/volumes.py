"""``/v1/volumes``: create, list, show, delete; actions attach/detach/extend/snapshot."""

from __future__ import annotations

from aiohttp import web

from atoll.api.bodies import Wrapped
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.resources import VolumeSpec
from atoll.site_agent import specs
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX
from atoll.site_agent.api.objects import REF, crud, reply, view
from atoll.site_agent.resources import Resources

VOLUME = view("volume", VolumeSpec)
ACTIONS = {
    "attach": Shape(
        "VolumeAttach",
        {"server": Field("string", required=True, max_length=255, description="id or name")},
    ),
    "detach": Shape("VolumeDetach", {}),
    "extend": Shape(
        "VolumeExtend",
        {"size_gb": Field("integer", required=True, minimum=1, description="above the size")},
    ),
    "snapshot": Shape(
        "VolumeSnapshot",
        {"name": Field("string", max_length=63, description="default: <volume>-snap<N>")},
    ),
}


def action(name: str, shape: Shape) -> Route:
    async def act(request: web.Request) -> web.Response:
        body = shape.validate(await json_object(request, optional=True))
        volume = await request.app[CTX].resources.volume_action(
            request.match_info["ref"], name, body
        )
        return reply({"volume": volume}, status=202)

    return Route(
        "POST",
        f"/v1/volumes/{{ref}}/actions/{name}",
        f"volumes.{name}",
        act,
        f"{name.capitalize()} a volume (202)",
        body=shape,
        response=Wrapped("volume", VOLUME),
        status=202,
        path_params=REF,
    )


ROUTES = crud("volume", "volumes", Resources.create_volume, specs.VOLUME, VOLUME, created=202)
ROUTES += [action(name, shape) for name, shape in ACTIONS.items()]
