"""``/vnflcm/v2``: ETSI SOL003 v2 VNF lifecycle management, per project.

``vnf_instances``: create (``POST``, from the vnfdId of an ONBOARDED, ENABLED package of
the caller's project, which becomes IN_USE), list, show, delete (NOT_INSTANTIATED only).
Tasks ``POST .../vnf_instances/{id}/instantiate|scale|scale_to_level|heal|terminate|
change_vnfpkg`` answer 202 with an empty body and the op occurrence's ``Location``; the
hub's LCM engine (:mod:`atoll.hub.lcm.engine`) runs it. ``vnf_lcm_op_occs``: list, show,
and ``retry``, ``rollback`` (202) and ``fail`` (200 with the op occurrence) of a FAILED_TEMP
one; ``cancel`` (a ``CancelMode`` body, GRACEFUL or FORCEFUL; 202) of a STARTING,
PROCESSING or ROLLING_BACK one: it shows ``isCancelPending`` and ``cancelMode`` until the
engine has stopped it (:mod:`atoll.hub.lcm.cancelling`). The same ``cancel`` is served at
``/vnflcm/v1/vnf_lcm_op_occs/{id}/cancel`` too (no ``Version`` needed), on the same op
occurrences: python-tackerclient offers ``openstack vnflcm op cancel`` for its v1 API only
and posts there. No other v1 resource is served, and ``api_versions`` lists none.

The SOL013 HTTP conventions are :mod:`atoll.hub.api.sol013`'s (this API is :data:`API`):
the ``Version`` header (2.0.0; missing or malformed: 400, another version: 406),
ProblemDetails errors, bare-array lists with ``filter``, attribute selectors and ``Link``
paging.

Atoll's additions: an instantiate places its VNFCs on sites (``additionalParams.placement``,
see :class:`atoll.nfv.lcm.requests.PlacementRequest`; ``extVirtualLinks[].vimConnectionId``
is a site's name or id, ``resourceId`` a site network of the project there);
``maxParallel``, ``siteTimeout`` and ``stopOnFailure`` in ``additionalParams`` set how many
sites are worked at once, how long one may take (at most a day) and whether one site's
failure stops the rest (:class:`atoll.nfv.lcm.requests.LcmOptions`: a bad one is a 400
naming ``body.additionalParams.maxParallel`` or the like). An op occurrence adds ``sites``:
per site its ``state`` (pending, applying, done, failed), a ``message`` (an offline site
says so) and the ``resourceChanges`` there.

``vimConnectionInfo`` in a request is write-only: its ``accessInfo`` (and secret-looking
keys of ``interfaceInfo``) is kept nowhere, so no reply, list or notification shows it
(:mod:`atoll.nfv.lcm.vim_access`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast, get_args

from aiohttp import web

from atoll import ids, jsonbody
from atoll.api.routing import Route
from atoll.api.schema import Field, FieldType, Shape
from atoll.errors import InvalidInput, Problem, UnsupportedMediaType
from atoll.hub.api import sol013
from atoll.hub.api.context import Hub, claims_of, hub_of
from atoll.hub.api.records import visible_page
from atoll.hub.api.replies import read_raw, reply
from atoll.hub.lcm import records
from atoll.hub.lcm.engine import Engine
from atoll.hub.store.base import Record
from atoll.jsonbody import JSON
from atoll.nfv import sol013 as nfv_sol013
from atoll.nfv.lcm import states
from atoll.nfv.lcm.instance import Operation, VnfInstance, VnfLcmOpOcc
from atoll.nfv.lcm.requests import (
    CancelMode,
    ChangeCurrentVnfPkgRequest,
    CreateVnfRequest,
    HealVnfRequest,
    InstantiateVnfRequest,
    ScaleVnfRequest,
    ScaleVnfToLevelRequest,
    TerminateVnfRequest,
)
from atoll.nfv.lcm.vim_access import VIM_CONNECTION_INFO, vim_connections, without_secrets
from atoll.resources.fields import schema as model_schema

API = sol013.NfvApi("vnflcm", "v2", ("2.0.0",))
BASE = API.prefix
INSTANCES = f"{BASE}/vnf_instances"
OCCS = f"{BASE}/vnf_lcm_op_occs"
V1_OCCS = "/vnflcm/v1/vnf_lcm_op_occs"  # python-tackerclient's `op cancel` (module docstring)
ENGINE = web.AppKey("lcm_engine", Engine)


@dataclass(frozen=True)
class ModelBody:
    """A SOL003 request model as its OpenAPI schema (the strict decode's)."""

    model: type[Any]

    @property
    def name(self) -> str:
        return str(self.model.__name__)

    def schema(self) -> JSON:
        return model_schema(self.model)


def shape_of(model: type[Any], name: str, extra: dict[str, Field]) -> Shape:
    """A reply shape from a SOL003 model: its top-level attributes (inner ones free-form)."""
    fields: dict[str, Field] = {}
    for key, spec in model_schema(model)["properties"].items():
        kinds = spec.get("type", "object")
        listed = [kinds] if isinstance(kinds, str) else list(kinds)
        kind = next((k for k in listed if k in get_args(FieldType)), "object")
        fields[key] = Field(cast(FieldType, kind), required=key == "id", nullable=key != "id")
    return Shape(name, {**fields, **extra})


LINKS = Field("object", required=True, description="self, and the tasks that apply now")
SITES = Field(
    "array",
    items=Field("object"),
    description="Atoll: per site its state (pending, applying, done, failed), a message (an "
    "offline site says so) and the resourceChanges there",
)
INSTANCE = shape_of(VnfInstance, "VnfInstance", {"_links": LINKS})
OCC = shape_of(VnfLcmOpOcc, "VnfLcmOpOcc", {"_links": LINKS, "sites": SITES})
INSTANCES_LIST = sol013.Listing(INSTANCE, nfv_sol013.VNF_INSTANCE_DEFAULT_EXCLUDED)
OCCS_LIST = sol013.Listing(OCC, nfv_sol013.OP_OCC_DEFAULT_EXCLUDED)
ID = Field("string", required=True, pattern=ids.PATTERN, description="an id (32 hex digits)")


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


def _reply(data: object = None, status: int = 200, location: str | None = None) -> web.Response:
    response = web.Response(status=status) if data is None else reply(data, status)
    if location:
        response.headers["Location"] = location
    return response


async def _body(request: web.Request) -> JSON:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"the request body must be JSON (Content-Type: application/json), "
            f"not {request.content_type or 'nothing'}"
        )
    raw = await read_raw(request)  # 413 over the size limit, 408 too slow
    data = jsonbody.loads(raw, max_bytes=hub_of(request).settings.max_body_bytes)
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return data


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not ids.is_id(value):
        raise InvalidInput(
            "the path is not valid", [Problem(f"path.{name}", f"must be {ids.HELP}")]
        )
    return value


def instance_view(value: JSON, base: str) -> JSON:
    out = dict(value["instance"])
    if isinstance(out.get(VIM_CONNECTION_INFO), dict):  # write-only (SOL003 §4.4.1.6)
        out[VIM_CONNECTION_INFO] = vim_connections(out[VIM_CONNECTION_INFO])
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
    if "operationParams" in out:  # as an earlier hub may have stored it: with the secrets
        out["operationParams"] = without_secrets(out["operationParams"])
    here = f"{base}{OCCS}/{value['id']}"
    links: JSON = {
        "self": {"href": here},
        "vnfInstance": {"href": f"{base}{INSTANCES}/{value['vnf_instance_id']}"},
    }
    if out.get("operationState") == "FAILED_TEMP":
        for task in ("retry", "rollback", "fail"):
            links[task] = {"href": f"{here}/{task}"}
    elif out.get("operationState") in states.CANCELLABLE:
        links["cancel"] = {"href": f"{here}/cancel"}
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
    request: web.Request, kind: str, view: Any, listing: sol013.Listing
) -> web.Response:
    """One page, read from the store a page at a time (not the whole kind per request);
    each record's view is made once, for the filter and the answer."""
    claims = claims_of(request)
    query = listing.parse(request)
    filters: JSON = {} if claims.system else {"project_id": claims.project_id}
    origin = _origin(request)
    views: dict[str, JSON] = {}

    def admitted(record: Record) -> bool:
        if not records.visible(claims, record.value):
            return False
        item = views[record.key] = view(record.value, origin)
        return bool(query.matches(item))

    store = hub_of(request).store
    page = await visible_page(store, kind, query.limit, query.marker, admitted, filters)
    return listing.reply(request, [views[r.key] for r in page.items], page.next_marker, query)


# -- vnf_instances ---------------------------------------------------------------------------
async def list_instances(request: web.Request) -> web.Response:
    return await _list(request, records.INSTANCE, instance_view, INSTANCES_LIST)


async def create_instance(request: web.Request) -> web.Response:
    record = await _engine(request).create_instance(claims_of(request), await _body(request))
    view = instance_view(record.value, _origin(request))
    return _reply(view, 201, view["_links"]["self"]["href"])


async def show_instance(request: web.Request) -> web.Response:
    instance_id = _path_id(request, "vnfInstanceId")
    record = await records.instance_record(hub_of(request).store, instance_id, claims_of(request))
    return _reply(instance_view(record.value, _origin(request)))


async def delete_instance(request: web.Request) -> web.Response:
    instance_id = _path_id(request, "vnfInstanceId")
    await _engine(request).delete_instance(claims_of(request), instance_id)
    return _reply(None, 204)


def _task(operation: Operation) -> Any:
    async def handler(request: web.Request) -> web.Response:
        instance_id = _path_id(request, "vnfInstanceId")
        occ = await _engine(request).start_operation(
            claims_of(request), instance_id, operation, await _body(request)
        )
        return _reply(None, 202, f"{_origin(request)}{OCCS}/{occ.id}")

    return handler


# -- vnf_lcm_op_occs -------------------------------------------------------------------------
async def list_occs(request: web.Request) -> web.Response:
    return await _list(request, records.OP_OCC, occ_view, OCCS_LIST)


async def show_occ(request: web.Request) -> web.Response:
    op_id = _path_id(request, "vnfLcmOpOccId")
    record = await records.occ_record(hub_of(request).store, op_id, claims_of(request))
    return _reply(occ_view(record.value, _origin(request)))


def _occ_task(name: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        op_id = _path_id(request, "vnfLcmOpOccId")
        engine, claims = _engine(request), claims_of(request)
        if name == "fail":
            await engine.fail(claims, op_id)
            record = await records.occ_record(hub_of(request).store, op_id, claims)
            return _reply(occ_view(record.value, _origin(request)))
        if name == "cancel":
            await engine.cancel(claims, op_id, await _body(request))
        else:
            await (engine.retry if name == "retry" else engine.rollback)(claims, op_id)
        return _reply(None, 202, f"{_origin(request)}{OCCS}/{op_id}")

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
          response=INSTANCES_LIST.response(), query=INSTANCES_LIST.query()),
    Route("POST", INSTANCES, "vnflcm.instances.create", create_instance,
          "Create a VNF instance from a VNFD (its package becomes IN_USE)",
          body=ModelBody(CreateVnfRequest), response=INSTANCE, status=201),
    Route("GET", f"{INSTANCES}/{{vnfInstanceId}}", "vnflcm.instances.show", show_instance,
          "Show a VNF instance", response=INSTANCE, path_params=INSTANCE_PATH),
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
          response=OCCS_LIST.response(), query=OCCS_LIST.query()),
    Route("GET", f"{OCCS}/{{vnfLcmOpOccId}}", "vnflcm.op_occs.show", show_occ,
          "Show an LCM operation occurrence, with each site's progress", response=OCC,
          path_params=OCC_PATH),
    Route("POST", f"{OCCS}/{{vnfLcmOpOccId}}/retry", "vnflcm.op_occs.retry", _occ_task("retry"),
          "Retry a FAILED_TEMP operation", status=202, path_params=OCC_PATH),
    Route("POST", f"{OCCS}/{{vnfLcmOpOccId}}/rollback", "vnflcm.op_occs.rollback",
          _occ_task("rollback"), "Roll a FAILED_TEMP operation back", status=202,
          path_params=OCC_PATH),
    Route("POST", f"{OCCS}/{{vnfLcmOpOccId}}/fail", "vnflcm.op_occs.fail", _occ_task("fail"),
          "Give a FAILED_TEMP operation up (FAILED)", response=OCC,
          path_params=OCC_PATH),
    Route("POST", f"{OCCS}/{{vnfLcmOpOccId}}/cancel", "vnflcm.op_occs.cancel",
          _occ_task("cancel"), "Cancel a STARTING, PROCESSING or ROLLING_BACK operation",
          body=ModelBody(CancelMode), status=202, path_params=OCC_PATH,
          description="Answers 202 with an empty body; the op occurrence shows "
          "isCancelPending and cancelMode until the engine stops it: STARTING becomes "
          "ROLLED_BACK, PROCESSING and ROLLING_BACK FAILED_TEMP (GRACEFUL: once the sites "
          "in flight are done or failed; FORCEFUL: at once)."),
    Route("POST", f"{V1_OCCS}/{{vnfLcmOpOccId}}/cancel", "vnflcm.v1.op_occs.cancel",
          _occ_task("cancel"), "Cancel an operation (the v1 path python-tackerclient's "
          "`openstack vnflcm op cancel` posts to)", body=ModelBody(CancelMode), status=202,
          path_params=OCC_PATH,
          description="The same task on the same op occurrences as "
          "/vnflcm/v2/vnf_lcm_op_occs/{vnfLcmOpOccId}/cancel, with no Version header needed: "
          "python-tackerclient offers `op cancel` for its v1 API only. No other v1 resource "
          "is served."),
]  # fmt: skip
