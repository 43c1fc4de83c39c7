"""``/v1/alarms``: threshold rules on fleet telemetry and site state, their states and history.

An alarm answers ``{"id", "name", "description", "project_id", "site": name|null, "scope":
"hub"|"site", "type": "threshold"|"site_state", "rule", "state":
"ok"|"alarm"|"insufficient_data", "state_reason", "state_timestamp", "acknowledged",
"silenced_until": time|null, "severity": "low"|"moderate"|"critical", "webhooks": [url],
"enabled", "created_at"}``. ``rule`` is a :class:`~atoll.resources.alarm.ThresholdRule`
(``{"metric", "labels", "statistic", "comparison", "threshold", "period"}``) or a
:class:`~atoll.resources.alarm.SiteStateRule` (``{"state": "offline", "period"}``).

- Scope ``hub``: evaluated by the hub (:mod:`atoll.hub.alarms.evaluator`) on the telemetry
  the sites sent up, or the site registry. Scope ``site`` (threshold rules naming a site):
  sent down to the site, which evaluates it on its own telemetry whether or not it can reach
  the hub; its state changes come back with sync and show in the history.
- ``POST /v1/alarms/{id}/acknowledge``: the NOC has seen it (cleared by the next change to
  ``alarm``). ``POST /v1/alarms/{id}/silence {"seconds": N}``: no webhooks until then
  (0 lifts it); states keep changing and the history keeps them.
- Webhooks: http(s) URLs the hub may call (not loopback, link-local or unspecified
  addresses: 422 ``callback_refused``, as for LCM callbacks; checked again before each call).
- Who: system readers see every alarm, project members their project's; system admins and
  project admins/members create, delete, acknowledge and silence. A project's threshold
  rule watches its own servers only: it names a site and one of the project's servers there
  (``rule.labels.server``); site-state rules and rules on hosts are the fleet's
  (system admins). A project holds at most ``[hub] alarm_limit`` alarms (403
  ``over_limit``; :mod:`atoll.hub.identity.limits`).
"""

from __future__ import annotations

from aiohttp import web

from atoll import ids
from atoll.api.routing import Route
from atoll.api.schema import Field, Shape, text_field
from atoll.errors import InvalidInput, NotFound, Problem
from atoll.hub.alarms import records
from atoll.hub.api.context import claims_of, hub_of
from atoll.hub.api.replies import (
    no_content,
    page_params,
    page_reply,
    path_id,
    query_filters,
    read_body,
    reply,
)
from atoll.hub.identity import tenancy
from atoll.hub.identity.limits import check_room
from atoll.hub.lcm.callbacks import check_address
from atoll.hub.sites import intent
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import ListQuery, Put, Record, Write
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.resources.alarm import SiteStateRule, ThresholdRule
from atoll.timestamps import iso
from atoll.tokens import Claims

STATES = ("ok", "alarm", "insufficient_data")
TYPES = ("threshold", "site_state")
SCOPES = ("hub", "site")
MAX_SILENCE = 30 * 86400
URL = r"^https?://[^\s/?#]+(/[^\s]*)?$"

RULE_DOC = (
    "threshold: {metric, labels: {name: value}, statistic: avg|min|max|rate, comparison: "
    "gt|ge|lt|le, threshold, period: seconds}; site_state: {state: offline, period: seconds}"
)
ALARM_SHAPE = Shape(
    "Alarm",
    {
        "id": Field("string", required=True),
        "name": Field("string", required=True),
        "description": Field("string", required=True),
        "project_id": Field("string", required=True, nullable=True),
        "site": Field("string", required=True, nullable=True),
        "scope": Field("string", required=True, enum=SCOPES),
        "type": Field("string", required=True, enum=TYPES),
        "rule": Field("object", required=True, description=RULE_DOC),
        "state": Field("string", required=True, enum=STATES),
        "state_reason": Field("string", required=True),
        "state_timestamp": Field("string", required=True),
        "acknowledged": Field("boolean", required=True),
        "silenced_until": Field("string", required=True, nullable=True),
        "severity": Field("string", required=True, enum=records.SEVERITIES),
        "webhooks": Field("array", required=True, items=Field("string")),
        "enabled": Field("boolean", required=True),
        "created_at": Field("string", required=True),
    },
)
CREATE = Shape(
    "AlarmCreate",
    {
        "name": text_field("the alarm's name", required=True),
        "description": text_field("what the alarm is for", max_length=1024),
        "type": Field("string", required=True, enum=TYPES),
        "scope": Field("string", enum=SCOPES, description="where it is evaluated (hub)"),
        "site": Field("string", nullable=True, max_length=63,
                      description="the site it watches (null: every site)"),
        "rule": Field("object", required=True, description=RULE_DOC),
        "severity": Field("string", enum=records.SEVERITIES, description="moderate"),
        "webhooks": Field("array", max_items=8,
                          items=Field("string", pattern=URL, max_length=2048,
                                      pattern_help="must be an http(s) URL"),
                          description="URLs POSTed each state change"),
        "project_id": Field("string", nullable=True,
                            description="the owning project (system admins; default: yours)"),
    },
)  # fmt: skip
SILENCE = Shape(
    "AlarmSilence",
    {"seconds": Field("integer", required=True, minimum=0, maximum=MAX_SILENCE,
                      description="no webhooks for this long (0: lift the silence)")},
)  # fmt: skip
HISTORY_SHAPE = Shape(
    "AlarmHistoryEntry",
    {
        "id": Field("string", required=True),
        "alarm_id": Field("string", required=True),
        "project_id": Field("string", required=True, nullable=True),
        "type": Field("string", required=True,
                      enum=("creation", "state transition", "acknowledge", "silence")),
        "previous": Field("string", required=True, nullable=True),
        "state": Field("string", required=True, enum=STATES),
        "reason": Field("string", required=True),
        "timestamp": Field("string", required=True),
        "source": Field("string", required=True, enum=("hub", "site")),
        "by": Field("string", required=True, nullable=True),
        "site": Field("string"),
        "seq": Field("integer"),
    },
)  # fmt: skip
QUERY = {
    "state": Field("string", enum=STATES),
    "scope": Field("string", enum=SCOPES),
    "type": Field("string", enum=TYPES),
    "severity": Field("string", enum=records.SEVERITIES),
    "site": Field("string", max_length=63),
}
PATH = {"id": Field("string", required=True, pattern=r"^[0-9a-f]{32}$")}


def _bad(where: str, what: str) -> InvalidInput:
    return InvalidInput("the alarm is not valid", [Problem(where, what)])


async def _visible(request: web.Request) -> Record:
    alarm_id = path_id(request)
    claims = claims_of(request)
    try:
        record = await hub_of(request).store.get(records.KIND, alarm_id)
    except NotFound:
        record = None
    if record is None or not (claims.system or tenancy.owns(claims, record.value)):
        raise NotFound(f"alarm {alarm_id} does not exist")
    return record


async def list_alarms(request: web.Request) -> web.Response:
    claims = claims_of(request)
    limit, marker = page_params(request)
    filters = query_filters(request, QUERY)
    if not claims.system:
        filters["project_id"] = claims.project_id
    page = await hub_of(request).store.list(ListQuery(records.KIND, filters, limit, marker))
    return page_reply([records.view(r.value) for r in page.items], page.next_marker)


async def show_alarm(request: web.Request) -> web.Response:
    record = await _visible(request)
    return reply(records.view(record.value), revision=record.revision)


async def _site(request: web.Request, name: str) -> JSON:
    try:
        return (await hub_of(request).store.get(SITE_KIND, name)).value
    except NotFound:
        raise _bad("body.site", f"there is no site {name!r}") from None


async def _rule(request: web.Request, body: JSON, claims: Claims, site: JSON | None) -> JSON:
    """The body's rule, checked for its type and for what the caller may watch."""
    if body["type"] == "site_state":
        if not claims.system:
            raise _bad("body.type", "site_state rules are the fleet's: system admins only")
        return SiteStateRule.from_wire(body["rule"], where="body.rule", strict=True).to_wire()
    rule = ThresholdRule.from_wire(body["rule"], where="body.rule", strict=True)
    if not claims.system:
        server = rule.labels.get("server")
        if site is None or server is None:
            raise _bad("body.rule.labels.server",
                       "a project's rule names a site and one of its servers there")  # fmt: skip
        key = intent.object_key(site["id"], "server", server)
        try:
            placed = await hub_of(request).store.get(intent.SITE_OBJECT, key)
        except NotFound:
            placed = None
        if placed is None or not tenancy.owns(claims, placed.value):
            where = site["name"]
            raise _bad("body.rule.labels.server", f"no server {server!r} of yours at {where}")
    return rule.to_wire()


async def create_alarm(request: web.Request) -> web.Response:
    hub, claims = hub_of(request), claims_of(request)
    body = await read_body(request, CREATE)
    project_id = body.get("project_id")
    if not claims.system:
        if project_id not in (None, claims.project_id):
            raise _bad("body.project_id", "must be your token's project (or left out)")
        project_id = claims.project_id
    elif project_id is not None and not any(
        r.value.get("id") == project_id for r in await list_all(hub.store, "project", {})
    ):
        raise _bad("body.project_id", f"there is no project {project_id!r}")
    if project_id is not None:
        await check_room(hub.store, records.KIND, project_id, hub.settings.alarm_limit,
                         "alarms", "alarm_limit")  # fmt: skip
    scope = body.get("scope", "hub")
    site = await _site(request, body["site"]) if body.get("site") else None
    if scope == "site" and (body["type"] != "threshold" or site is None):
        raise _bad("body.scope", "a site-scope alarm is a threshold rule naming its site")
    rule = await _rule(request, body, claims, site)
    for i, url in enumerate(body.get("webhooks", [])):  # the LCM callbacks' address rule
        await check_address(url, f"body.webhooks[{i}]", hub.settings.alarm_webhook_loopback)
    now = hub.clock()
    alarm: JSON = {
        "id": ids.hub_id(),
        "name": body["name"],
        "description": body.get("description", ""),
        "project_id": project_id,
        "site": site["name"] if site else None,
        "site_id": site["id"] if site else None,
        "scope": scope,
        "type": body["type"],
        "rule": rule,
        "state": "insufficient_data",
        "state_reason": "not evaluated yet",
        "state_timestamp": iso(now),
        "acknowledged": False,
        "silenced_until": None,
        "severity": body.get("severity", "moderate"),
        "webhooks": body.get("webhooks", []),
        "enabled": True,
        "created_at": iso(now),
    }
    alarm.update(changes=0, notified=0, notified_state=alarm["state"])
    created = records.entry(alarm, "creation", now, reason="created", by=claims.user)
    writes: list[Write] = [
        Put(records.KIND, alarm["id"], alarm, expect_revision=0),
        Put(records.HISTORY, records.history_key(alarm["id"], now, "hub-created"), created, 0),
    ]
    if scope == "site" and site is not None:
        writes.append(records.placed(alarm, site))
    revision = await hub.store.commit(writes)
    return reply(records.view(alarm), status=201, revision=revision)


async def delete_alarm(request: web.Request) -> web.Response:
    await records.remove(hub_of(request).store, await _visible(request))
    return no_content()


async def _edit(request: web.Request, change: dict[str, object], type_: str, reason: str) -> JSON:
    hub, claims = hub_of(request), claims_of(request)
    record = await _visible(request)
    now = hub.clock()
    value = {**record.value, **change}
    entry = records.entry(value, type_, now, reason=reason, by=claims.user)
    key = records.history_key(value["id"], now, f"hub{ids.hub_id()[:8]}")
    await hub.store.commit(
        [Put(records.KIND, record.key, value, record.revision), Put(records.HISTORY, key, entry, 0)]
    )
    return records.view(value)


async def acknowledge_alarm(request: web.Request) -> web.Response:
    return reply(await _edit(request, {"acknowledged": True}, "acknowledge", "acknowledged"))


async def silence_alarm(request: web.Request) -> web.Response:
    body = await read_body(request, SILENCE)
    seconds = body["seconds"]
    until = iso(hub_of(request).clock() + seconds) if seconds else None
    reason = f"silenced until {until}" if until else "silence lifted"
    return reply(await _edit(request, {"silenced_until": until}, "silence", reason))


async def alarm_history(request: web.Request) -> web.Response:
    record = await _visible(request)
    limit, marker = page_params(request)
    query = ListQuery(records.HISTORY, {"alarm_id": record.value["id"]}, limit, marker)
    page = await hub_of(request).store.list(query)
    return page_reply([{"id": r.key, **r.value} for r in page.items], page.next_marker)


ROUTES = [
    Route("GET", "/v1/alarms", "alarms.list", list_alarms,
          "List alarms (filter by state, scope, type, severity, site)",
          response=ALARM_SHAPE, paged=True, query=QUERY),
    Route("POST", "/v1/alarms", "alarms.create", create_alarm, "Create an alarm",
          body=CREATE, response=ALARM_SHAPE, status=201, description=__doc__ or ""),
    Route("GET", "/v1/alarms/{id}", "alarms.show", show_alarm, "Show an alarm",
          response=ALARM_SHAPE, path_params=PATH, etag=True),
    Route("DELETE", "/v1/alarms/{id}", "alarms.delete", delete_alarm,
          "Delete an alarm (and its history; a site-scope rule leaves its site)",
          path_params=PATH, status=204),
    Route("POST", "/v1/alarms/{id}/acknowledge", "alarms.acknowledge", acknowledge_alarm,
          "Acknowledge an alarm (until its next change to alarm)", response=ALARM_SHAPE,
          path_params=PATH),
    Route("POST", "/v1/alarms/{id}/silence", "alarms.silence", silence_alarm,
          "Silence an alarm's webhooks for a while (0 seconds: lift)", body=SILENCE,
          response=ALARM_SHAPE, path_params=PATH),
    Route("GET", "/v1/alarms/{id}/history", "alarms.history", alarm_history,
          "An alarm's history: created, state changes (from the hub or its site), "
          "acknowledged, silenced; oldest first", response=HISTORY_SHAPE, paged=True,
          path_params=PATH),
]  # fmt: skip
