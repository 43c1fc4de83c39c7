"""``/vnflcm/v2``: ETSI SOL003 v2 VNF lifecycle management, per project.

``vnf_instances``: create (``POST``, from the vnfdId of an ONBOARDED, ENABLED package of
the caller's project, which becomes IN_USE), list, show, delete (NOT_INSTANTIATED only).
Tasks ``POST .../vnf_instances/{id}/instantiate|scale|scale_to_level|heal|terminate|
change_vnfpkg`` answer 202 with an empty body and the op occurrence's ``Location``; the
hub's LCM engine (:mod:`atoll.hub.lcm.engine`) runs it. ``vnf_lcm_op_occs``: list, show,
and ``retry``, ``rollback`` (202) and ``fail`` (200 with the op occurrence).

Requests carry the SOL013 ``Version`` header (2.0.0; missing or malformed: 400, another
version: 406); replies carry ``Version: 2.0.0``. Lists are bare JSON arrays, take SOL013
``filter`` and attribute selectors (``all_fields``, ``fields``, ``exclude_fields``,
``exclude_default``), and page with ``nextpage_opaque_marker`` and a ``Link: <...>;
rel="next"`` header.

Atoll's additions: an instantiate places its VNFCs on sites (``additionalParams.placement``,
see :class:`atoll.nfv.lcm.requests.PlacementRequest`; ``extVirtualLinks[].vimConnectionId``
is a site's name or id, ``resourceId`` a site network of the project there); ``maxParallel``
and ``stopOnFailure`` in ``additionalParams`` set how many sites are worked at once and
whether one site's failure stops the rest. An op occurrence adds ``sites``: per site its
``state`` (pending, applying, done, failed), a ``message`` (an offline site says so) and
the ``resourceChanges`` there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from atoll import ids, jsonbody
from atoll.errors import InvalidInput, Problem
from atoll.hub.api.context import Hub, claims_of, hub_of
from atoll.hub.api.routing import Route
from atoll.hub.api.schema import Field
from atoll.hub.lcm import records
from atoll.hub.lcm.engine import Engine
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.nfv import sol013
from atoll.nfv.lcm.instance import Operation, VnfInstance, VnfLcmOpOcc
from atoll.nfv.lcm.requests import (
    ChangeCurrentVnfPkgRequest,
    CreateVnfRequest,
    HealVnfRequest,
    InstantiateVnfRequest,
    ScaleVnfRequest,
    ScaleVnfToLevelRequest,
    TerminateVnfRequest,
)
from atoll.resources.fields import schema as model_schema

BASE = "/vnflcm/v2"
INSTANCES = f"{BASE}/vnf_instances"
OCCS = f"{BASE}/vnf_lcm_op_occs"
VERSION = "2.0.0"
PAGE = 100
ENGINE = web.AppKey("lcm_engine", Engine)
MARKER = "nextpage_opaque_marker"


@dataclass(frozen=True)
class ModelBody:
    """A SOL003 model as an OpenAPI schema (request bodies: strict; replies: ``extra``
    attributes the view adds)."""

    model: type[Any]
    extra: tuple[str, ...] = ()
    many: bool = False

    @property
    def name(self) -> str:
        return str(self.model.__name__) + ("List" if self.many else "")

    def schema(self) -> JSON:
        out = model_schema(self.model)
        for key in self.extra:
            out["properties"][key] = {"type": ["object", "array"]}
        if self.extra:
            out.pop("required", None)  # attribute selectors may leave anything out
            out["additionalProperties"] = True
        return {"type": "array", "items": out} if self.many else out


INSTANCE_VIEW = ModelBody(VnfInstance, ("_links",))
OCC_VIEW = ModelBody(VnfLcmOpOcc, ("_links", "sites"))
ID = Field("string", required=True, pattern=ids.PATTERN, description="an id (32 hex digits)")
LIST_HELP = (
    "A bare JSON array. Takes the SOL013 query parameters filter, all_fields, fields, "
    "exclude_fields, exclude_default and nextpage_opaque_marker (from the Link header of the "
    "previous page)."
)


def install(app: web.Application, hub: Hub) -> Engine:
    """Give the app its LCM engine: recovered and looping while the app runs."""
    engine = Engine(hub.settings, hub.store, hub.clock)
    app[ENGINE] = engine

    async def start(app: web.Application) -> None:
        await engine.start()

    async def stop(app: web.Application) -> None:
        await engine.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return engine


def _engine(request: web.Request) -> Engine:
    return request.app[ENGINE]


def _base_url(request: web.Request) -> str:
    public = hub_of(request).settings.public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


def _sol(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    out = {"Version": VERSION, "Accept-Ranges": "none", **(headers or {})}
    if data is None:
        return web.Response(status=status, headers=out)
    return web.json_response(data, status=status, headers=out)


def _version(request: web.Request) -> None:
    header = request.headers.get("Version")
    if header is not None:  # until the SOL013 layer documents it, a missing one means 2.0.0
        sol013.check_version(header)


async def _body(request: web.Request) -> JSON:
    if request.content_type != "application/json":
        raise InvalidInput(
            f"the request body must be JSON (Content-Type: application/json), "
            f"not {request.content_type or 'nothing'}"
        )
    data = jsonbody.loads(await request.read(), max_bytes=hub_of(request).settings.max_body_bytes)
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return data


def instance_view(value: JSON, base: str) -> JSON:
    out = dict(value["instance"])
    here = f"{base}{INSTANCES}/{value['id']}"
    links = {"self": {"href": here}}
    if out.get("instantiationState") == "NOT_INSTANTIATED":
        links["instantiate"] = {"href": f"{here}/instantiate"}
    else:
        for task in ("terminate", "scale", "scale_to_level", "heal", "change_vnfpkg"):
            links[task] = {"href": f"{here}/{task}"}
    out["_links"] = links
    return out


def occ_view(value: JSON, base: str) -> JSON:
    out = dict(value["occ"])
    here = f"{base}{OCCS}/{value['id']}"
    links: JSON = {
        "self": {"href": here},
        "vnfInstance": {"href": f"{base}{INSTANCES}/{value['vnf_instance_id']}"},
    }
    if out.get("operationState") == "FAILED_TEMP":
        for task in ("retry", "rollback", "fail"):
            links[task] = {"href": f"{here}/{task}"}
    out["_links"] = links
    sites = value.get("work", {}).get("sites", {})
    out["sites"] = [
        {
            "siteId": site_id,
            "siteName": e.get("site", site_id),
            "state": e["state"],
            "message": e.get("message", ""),
            **({"resourceChanges": e["resourceChanges"]} if e.get("resourceChanges") else {}),
        }
        for site_id, e in sorted(sites.items())
    ]
    return out


async def _list(
    request: web.Request, kind: str, view: Any, default_excluded: tuple[str, ...]
) -> web.Response:
    _version(request)
    claims = claims_of(request)
    selector = sol013.parse_selector(request.query)
    filters = sol013.parse_filter(request.query["filter"]) if "filter" in request.query else ()
    filters_store: JSON = {} if claims.system else {"project_id": claims.project_id}
    found = [
        r for r in await list_all(hub_of(request).store, kind, filters_store)
        if records.visible(claims, r.value)
    ]  # fmt: skip
    base = _base_url(request)
    marker = request.query.get(MARKER)
    items = [(r.key, view(r.value, base)) for r in found if marker is None or r.key > marker]
    chosen = [(k, v) for k, v in items if sol013.select([v], filters)]
    page, more = chosen[:PAGE], len(chosen) > PAGE
    headers = {}
    if more:
        query = {k: v for k, v in request.query.items() if k != MARKER}
        query[MARKER] = page[-1][0]
        url = request.url.with_query(query)
        headers["Link"] = f'<{base}{url.path_qs}>; rel="next"'
    return _sol([selector.apply(v, default_excluded) for _, v in page], headers=headers)


# -- vnf_instances ---------------------------------------------------------------------------
async def list_instances(request: web.Request) -> web.Response:
    return await _list(
        request, records.INSTANCE, instance_view, sol013.VNF_INSTANCE_DEFAULT_EXCLUDED
    )


async def create_instance(request: web.Request) -> web.Response:
    _version(request)
    record = await _engine(request).create_instance(claims_of(request), await _body(request))
    view = instance_view(record.value, _base_url(request))
    return _sol(view, 201, {"Location": view["_links"]["self"]["href"]})


async def show_instance(request: web.Request) -> web.Response:
    _version(request)
    instance_id = _path_id(request, "vnfInstanceId")
    record = await records.instance_record(hub_of(request).store, instance_id, claims_of(request))
    return _sol(instance_view(record.value, _base_url(request)))


async def delete_instance(request: web.Request) -> web.Response:
    _version(request)
    instance_id = _path_id(request, "vnfInstanceId")
    await _engine(request).delete_instance(claims_of(request), instance_id)
    return _sol(None, 204)


def _task(operation: Operation) -> Any:
    async def handler(request: web.Request) -> web.Response:
        _version(request)
        instance_id = _path_id(request, "vnfInstanceId")
        occ = await _engine(request).start_operation(
            claims_of(request), instance_id, operation, await _body(request)
        )
        return _sol(None, 202, {"Location": f"{_base_url(request)}{OCCS}/{occ.id}"})

    return handler


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not ids.is_id(value):
        raise InvalidInput(
            "the path is not valid", [Problem(f"path.{name}", f"must be {ids.HELP}")]
        )
    return value


# -- vnf_lcm_op_occs -------------------------------------------------------------------------
async def list_occs(request: web.Request) -> web.Response:
    return await _list(request, records.OP_OCC, occ_view, sol013.OP_OCC_DEFAULT_EXCLUDED)


async def show_occ(request: web.Request) -> web.Response:
    _version(request)
    op_id = _path_id(request, "vnfLcmOpOccId")
    record = await records.occ_record(hub_of(request).store, op_id, claims_of(request))
    return _sol(occ_view(record.value, _base_url(request)))


def _occ_task(name: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        _version(request)
        op_id = _path_id(request, "vnfLcmOpOccId")
        engine, claims = _engine(request), claims_of(request)
        if name == "fail":
            await engine.fail(claims, op_id)
            record = await records.occ_record(hub_of(request).store, op_id, claims)
            return _sol(occ_view(record.value, _base_url(request)))
        await (engine.retry if name == "retry" else engine.rollback)(claims, op_id)
        return _sol(None, 202, {"Location": f"{_base_url(request)}{OCCS}/{op_id}"})

    return handler


INSTANCE_PATH = {"vnfInstanceId": ID}
OCC_PATH = {"vnfLcmOpOccId": ID}
TASKS: tuple[tuple[str, Operation, type[Any], str], ...] = (
    ("instantiate", "INSTANTIATE", InstantiateVnfRequest, "Instantiate a VNF instance on sites"),
    ("scale", "SCALE", ScaleVnfRequest, "Scale a VNF instance out or in by steps of an aspect"),
    ("scale_to_level", "SCALE_TO_LEVEL", ScaleVnfToLevelRequest, "Scale a VNF instance to a "
     "level"),
    ("heal", "HEAL", HealVnfRequest, "Heal VNFCs (their servers are rebuilt, ids kept)"),
    ("terminate", "TERMINATE", TerminateVnfRequest, "Terminate a VNF instance (FORCEFUL, or "
     "GRACEFUL with a timeout)"),
    ("change_vnfpkg", "CHANGE_VNFPKG", ChangeCurrentVnfPkgRequest, "Move a VNF instance to "
     "another package of its VNF"),
)  # fmt: skip
ROUTES = [
    Route("GET", INSTANCES, "vnflcm.instances.list", list_instances, "List VNF instances",
          response=ModelBody(VnfInstance, ("_links",), many=True), description=LIST_HELP),
    Route("POST", INSTANCES, "vnflcm.instances.create", create_instance,
          "Create a VNF instance from a VNFD (its package becomes IN_USE)",
          body=ModelBody(CreateVnfRequest), response=INSTANCE_VIEW, status=201),
    Route("GET", f"{INSTANCES}/{{vnfInstanceId}}", "vnflcm.instances.show", show_instance,
          "Show a VNF instance", response=INSTANCE_VIEW, path_params=INSTANCE_PATH),
    Route("DELETE", f"{INSTANCES}/{{vnfInstanceId}}", "vnflcm.instances.delete",
          delete_instance, "Delete a NOT_INSTANTIATED VNF instance", status=204,
          path_params=INSTANCE_PATH),
    *[
        Route("POST", f"{INSTANCES}/{{vnfInstanceId}}/{task}", f"vnflcm.instances.{task}",
              _task(op), summary, body=ModelBody(model), status=202,
              path_params=INSTANCE_PATH,
              description="Answers 202 with an empty body and the op occurrence's Location.")
        for task, op, model, summary in TASKS
    ],
    Route("GET", OCCS, "vnflcm.op_occs.list", list_occs, "List LCM operation occurrences",
          response=ModelBody(VnfLcmOpOcc, ("_links", "sites"), many=True), description=LIST_HELP),
    Route("GET", f"{OCCS}/{{vnfLcmOpOccId}}", "vnflcm.op_occs.show", show_occ,
          "Show an LCM operation occurrence, with each site's progress", response=OCC_VIEW,
          path_params=OCC_PATH),
    Route("POST", f"{OCCS}/{{vnfLcmOpOccId}}/retry", "vnflcm.op_occs.retry", _occ_task("retry"),
          "Retry a FAILED_TEMP operation", status=202, path_params=OCC_PATH),
    Route("POST", f"{OCCS}/{{vnfLcmOpOccId}}/rollback", "vnflcm.op_occs.rollback",
          _occ_task("rollback"), "Roll a FAILED_TEMP operation back", status=202,
          path_params=OCC_PATH),
    Route("POST", f"{OCCS}/{{vnfLcmOpOccId}}/fail", "vnflcm.op_occs.fail", _occ_task("fail"),
          "Give a FAILED_TEMP operation up (FAILED)", response=OCC_VIEW,
          path_params=OCC_PATH),
]  # fmt: skip
