"""The routes every object kind of the local API has, written once: list (paged), create,
show (by id or name) and delete. Lists answer ``{"items": [...], "next_marker"}`` in id order
(``?limit=``, ``?marker=`` the last id of the previous page), as the hub's do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from atoll.api.bodies import ModelBody, ModelView, Wrapped
from atoll.api.paging import page_of, page_params
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape
from atoll.jsonbody import JSON
from atoll.resources import Model
from atoll.site_agent.api.bodies import json_object
from atoll.site_agent.api.middleware import CTX
from atoll.site_agent.resources import Resources

REF = {"ref": Field("string", description="the object's id or name", max_length=255)}
ACCEPTED = Shape("Accepted", {}, description="accepted; the reconciler does the work")
VIEW_FIELDS: Mapping[str, Field] = {
    "id": Field("string", required=True),
    "name": Field("string", required=True, nullable=True),
    "status": Field(
        "string",
        required=True,
        description="PENDING until the reconciler reports; ACTIVE, ERROR, DELETING...",
    ),
    "message": Field("string", required=True, description="what the last report said"),
    "generation": Field("integer", required=True, description="bumped by every spec change"),
    "observed_generation": Field("integer", required=True, description="the last one acted on"),
}
Create = Callable[[Resources, object], Awaitable[JSON]]


def view(kind: str, model: type[Model], hidden: tuple[str, ...] = (), **more: Field) -> ModelView:
    return ModelView(kind.capitalize(), model, {**VIEW_FIELDS, **more}, hidden)


def reply(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def crud(
    kind: str,
    plural: str,
    create: Create,
    body: ModelBody[Any],
    shown: ModelView,
    *,
    created: int = 201,
    delete: bool = True,
) -> list[Route]:
    """The routes of ``/v1/<plural>``: ``create`` makes one from a request body."""

    async def list_(request: web.Request) -> web.Response:
        limit, marker = page_params(request)
        items = await request.app[CTX].resources.list_kind(kind)
        return reply(page_of(items, limit, marker, key=lambda item: str(item["id"])))

    async def create_(request: web.Request) -> web.Response:
        made = await create(request.app[CTX].resources, await json_object(request))
        return reply({kind: made}, status=created)

    async def show(request: web.Request) -> web.Response:
        return reply({kind: await request.app[CTX].resources.show(kind, request.match_info["ref"])})

    async def delete_(request: web.Request) -> web.Response:
        await request.app[CTX].resources.delete(kind, request.match_info["ref"])
        return reply({}, status=202)

    one = Wrapped(kind, shown)
    routes = [
        Route("GET", f"/v1/{plural}", f"{plural}.list", list_, f"List {plural}", response=shown,
              paged=True),
        Route("POST", f"/v1/{plural}", f"{plural}.create", create_, f"Create a {kind}",
              body=body, response=one, status=created),
        Route("GET", f"/v1/{plural}/{{ref}}", f"{plural}.show", show, f"Show a {kind}",
              response=one, path_params=REF),
    ]  # fmt: skip
    if delete:
        routes.append(
            Route(
                "DELETE",
                f"/v1/{plural}/{{ref}}",
                f"{plural}.delete",
                delete_,
                f"Delete a {kind} (202; the reconciler removes it)",
                response=ACCEPTED,
                status=202,
                path_params=REF,
            )
        )
    return routes
