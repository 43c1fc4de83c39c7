"""``/v1/alarms`` and ``/v1/metrics/query``: rules, states from the hub's evaluator and from
a site's history, webhooks to a real aiohttp receiver, acknowledge, silence, isolation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.errors import NotFound
from atoll.hub.alarms.evaluator import AlarmEvaluator
from atoll.hub.api.context import HUB
from atoll.hub.app import ALARMS, build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.sites import intent
from atoll.hub.sites.registry import edit_site
from atoll.hub.store.memory import MemoryStore
from atoll.hub.sync.facts import FactBudget, record_facts
from atoll.hub.sync.operations import record_operation
from atoll.hub.telemetry.keeper import FIELDS, TelemetryKeeper
from atoll.jsonbody import JSON
from atoll.passwords import Passwords
from atoll.sync.frames import Fact
from atoll.timestamps import iso
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api, FakeClock


@pytest.fixture
async def lab(aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey) -> Api:
    """A hub that may call webhooks on this machine (``alarm_webhook_loopback``)."""
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    clock = FakeClock()
    settings = replace(TEST_SETTINGS, alarm_webhook_loopback=True)
    return Api(await aiohttp_client(build_app(settings, store, signing_key, clock)), clock)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[Any]]]:
    """A real webhook receiver on an ephemeral port: what it got, in order."""
    got: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("/hook")), got
    finally:
        await server.close()


async def received(got: list[Any], count: int) -> None:
    """Until the receiver got ``count`` calls (webhooks are called in the background)."""
    deadline = time.monotonic() + 30.0
    while len(got) < count:
        assert time.monotonic() < deadline, f"the receiver got {len(got)} of {count} calls"
        await asyncio.sleep(0.01)


def parts(api: Api) -> tuple[AlarmEvaluator, TelemetryKeeper]:
    app = api.client.app
    assert app is not None
    return app[ALARMS], app[HUB].telemetry


async def ingest(keeper: TelemetryKeeper, site_id: str, metric: str, labels: dict[str, str],
                 points: list[tuple[float, float]]) -> None:  # fmt: skip
    rows = [[metric, labels, ts, v, v, v, 6] for ts, v in points]
    await keeper.ingest(site_id, {"step": 60, "fields": FIELDS, "points": rows})


async def test_a_webhook_to_the_hub_machine_is_refused_naming_it(api: Api) -> None:
    admin = await api.admin()
    status, refused, _ = await api.call("POST", "/v1/alarms", admin, {
        "name": "x", "type": "threshold", "webhooks": ["https://192.0.2.10/hook", "http://127.1/"],
        "rule": {"metric": "host_memory_available_bytes", "threshold": 1}})  # fmt: skip
    assert status == 422 and refused["error"]["code"] == "callback_refused"
    assert refused["error"]["problems"][0]["where"] == "body.webhooks[1]"


async def test_a_threshold_alarm_fires_calls_its_webhook_and_is_acknowledged_and_silenced(
    lab: Api, receiver: tuple[str, list[Any]]
) -> None:
    api = lab
    url, got = receiver
    admin = await api.admin()
    site = await api.ok("POST", "/v1/sites", admin, {"name": "edge-1"})
    status, bad, _ = await api.call("POST", "/v1/alarms", admin, {
        "name": "low-mem", "type": "threshold", "site": "edge-1",
        "rule": {"metric": "host_memory_available_bytes", "comparison": "below"}})  # fmt: skip
    assert status == 400
    assert {p["where"] for p in bad["error"]["problems"]} >= {
        "body.rule.comparison", "body.rule.threshold"}  # fmt: skip
    rule = {"metric": "host_memory_available_bytes", "comparison": "lt", "threshold": 1000,
            "period": 120}  # fmt: skip
    alarm = await api.ok("POST", "/v1/alarms", admin, {
        "name": "low-mem", "type": "threshold", "site": "edge-1", "rule": rule,
        "severity": "critical", "webhooks": [url]})  # fmt: skip
    assert alarm["state"] == "insufficient_data" and alarm["scope"] == "hub"
    evaluator, keeper = parts(api)
    now = api.clock.now // 60 * 60  # a whole minute: a site's points are on one
    await ingest(keeper, site["id"], "host_memory_available_bytes", {},
                 [(now - 180 + 60 * i, 500.0) for i in range(4)])  # fmt: skip
    changed = await evaluator.evaluate()
    shown = await api.ok("GET", f"/v1/alarms/{alarm['id']}", admin)
    assert changed == 1, shown
    assert shown["state"] == "alarm" and "below 1000" in shown["state_reason"]
    assert await evaluator.announce() == 1
    await received(got, 1)
    assert got[-1]["alarm_id"] == alarm["id"] and got[-1]["current"] == "alarm"
    assert got[-1]["previous"] == "insufficient_data" and got[-1]["severity"] == "critical"
    assert await evaluator.evaluate() == 0  # the same state writes nothing
    api.clock.now += 1
    acked = await api.ok("POST", f"/v1/alarms/{alarm['id']}/acknowledge", admin, {})
    assert acked["acknowledged"] is True
    api.clock.now += 1
    silenced = await api.ok("POST", f"/v1/alarms/{alarm['id']}/silence", admin, {"seconds": 600})
    assert silenced["silenced_until"] == iso(api.clock.now + 600)
    api.clock.now += 58
    await ingest(keeper, site["id"], "host_memory_available_bytes", {}, [(now + 60, 5000.0)])
    assert await evaluator.evaluate() == 1
    await evaluator.announce()
    assert evaluator.webhooks.queued == 0  # silenced: no webhook for the change back to ok
    assert len(got) == 1
    ok = await api.ok("GET", "/v1/alarms?state=ok", admin)
    assert [a["id"] for a in ok["items"]] == [alarm["id"]]
    history = await api.ok("GET", f"/v1/alarms/{alarm['id']}/history", admin)
    kinds = [(h["type"], h["state"]) for h in history["items"]]
    assert kinds == [("creation", "insufficient_data"), ("state transition", "alarm"),
                     ("acknowledge", "alarm"), ("silence", "alarm"),
                     ("state transition", "ok")]  # fmt: skip
    query = (f"/v1/metrics/query?name=host_memory_available_bytes&site=edge-1"
             f"&since={now - 300:.0f}&until={now + 60:.0f}")  # fmt: skip
    result = await api.ok("GET", query, admin)
    assert result["step"] == 60 and result["series"][0]["site"] == "edge-1"
    assert [p[1] for p in result["series"][0]["points"]] == [500.0] * 4 + [5000.0]
    status, _, _ = await api.call("DELETE", f"/v1/alarms/{alarm['id']}", admin)
    assert status == 204
    status, _, _ = await api.call("GET", f"/v1/alarms/{alarm['id']}", admin)
    assert status == 404


async def test_a_site_offline_for_the_period_alarms(api: Api) -> None:
    admin = await api.admin()
    await api.ok("POST", "/v1/sites", admin, {"name": "edge-2"})
    alarm = await api.ok("POST", "/v1/alarms", admin, {
        "name": "edge-2-down", "type": "site_state", "site": "edge-2",
        "rule": {"state": "offline", "period": 300}})  # fmt: skip
    evaluator, _ = parts(api)
    await edit_site(api.store, "edge-2", lambda v: {**v, "state": "online",
                                                    "last_seen": iso(api.clock.now)})  # fmt: skip
    await evaluator.evaluate()
    assert (await api.ok("GET", f"/v1/alarms/{alarm['id']}", admin))["state"] == "ok"
    await edit_site(api.store, "edge-2", lambda v: {**v, "state": "offline"})
    api.clock.now += 301
    await evaluator.evaluate()
    shown = await api.ok("GET", f"/v1/alarms/{alarm['id']}", admin)
    assert shown["state"] == "alarm" and "not heard for 301 s" in shown["state_reason"]


@pytest.fixture
async def slow_and_fast() -> AsyncIterator[tuple[str, list[tuple[float, str, Any]]]]:
    """A webhook receiver: ``/slow`` answers after 3 s, ``/fast`` at once; what each got,
    and when it answered (``time.monotonic()``)."""
    got: list[tuple[float, str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        if request.path == "/slow":
            await asyncio.sleep(3.0)
        got.append((time.monotonic(), request.path, body))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{path}", hook)
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), got
    finally:
        await server.close()


async def test_a_slow_webhook_holds_back_neither_the_evaluation_nor_other_alarms(
    lab: Api, slow_and_fast: tuple[str, list[tuple[float, str, Any]]]
) -> None:
    """Before, the evaluation pass called each alarm's webhooks and waited for them: one
    webhook answering slowly (or retried up to its attempts) held every alarm after it."""
    api = lab
    base, got = slow_and_fast
    admin = await api.admin()
    await api.ok("POST", "/v1/sites", admin, {"name": "edge-3"})
    evaluator, _ = parts(api)

    def alarm(name: str, path: str) -> JSON:
        return {"name": name, "type": "site_state", "site": "edge-3",
                "rule": {"state": "offline", "period": 300}, "webhooks": [base + path]}  # fmt: skip

    slow = await api.ok("POST", "/v1/alarms", admin, alarm("slow", "/slow"))
    await edit_site(api.store, "edge-3", lambda v: {**v, "state": "online",
                                                    "last_seen": iso(api.clock.now)})  # fmt: skip
    await evaluator.evaluate()
    asked = time.monotonic()
    assert await evaluator.announce() == 1  # the slow alarm's change: insufficient data -> ok
    assert time.monotonic() - asked < 1.0  # its webhook takes 3 s
    fast = await api.ok("POST", "/v1/alarms", admin, alarm("fast", "/fast"))
    await evaluator.evaluate()
    assert await evaluator.announce() == 1
    await received(got, 1)
    answered, path, body = got[0]
    assert (path, body["alarm_id"], body["current"]) == ("/fast", fast["id"], "ok")
    assert answered - asked < 2.0
    await received(got, 2)
    assert (got[1][1], got[1][2]["alarm_id"]) == ("/slow", slow["id"])


async def test_projects_see_and_watch_only_their_own_servers(api: Api) -> None:
    admin = await api.admin()
    for project in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": project})
    site = await api.ok("POST", "/v1/sites", admin, {"name": "edge-3"})
    a = await api.user_with_role("a-member", "a", "member")
    b = await api.user_with_role("b-member", "b", "member")
    projects = {p["name"]: p["id"] for p in (await api.ok("GET", "/v1/projects", admin))["items"]}
    servers = {"a": "a" * 32, "b": "b" * 32}
    for project, server in servers.items():
        key = intent.object_key(site["id"], "server", server)
        await api.store.put(intent.SITE_OBJECT, key, {
            "id": server, "site_id": site["id"], "site": "edge-3", "kind": "server",
            "name": f"vm-{project}", "project_id": projects[project], "origin": "hub",
            "desired": None})  # fmt: skip
    rule = {"metric": "server_cpu_utilization_ratio", "threshold": 0.9,
            "labels": {"server": servers["b"]}}  # fmt: skip
    body = {"name": "cpu", "type": "threshold", "site": "edge-3", "rule": rule}
    status, refused, _ = await api.call("POST", "/v1/alarms", a, body)
    assert status == 400 and refused["error"]["problems"][0]["where"] == "body.rule.labels.server"
    status, refused, _ = await api.call("POST", "/v1/alarms", a, {
        "name": "down", "type": "site_state", "rule": {}})  # fmt: skip
    assert status == 400 and refused["error"]["problems"][0]["where"] == "body.type"
    mine = await api.ok("POST", "/v1/alarms", a, {**body, "rule": {
        **rule, "labels": {"server": servers["a"]}}})  # fmt: skip
    assert mine["project_id"] == projects["a"]
    assert (await api.ok("GET", "/v1/alarms", b))["items"] == []
    status, _, _ = await api.call("GET", f"/v1/alarms/{mine['id']}", b)
    assert status == 404
    status, _, _ = await api.call("POST", f"/v1/alarms/{mine['id']}/acknowledge", b, {})
    assert status == 404
    _, keeper = parts(api)
    for server in servers.values():
        await ingest(keeper, site["id"], "server_cpu_utilization_ratio", {"server": server},
                     [(api.clock.now // 60 * 60 - 60, 0.5)])  # fmt: skip
    seen = await api.ok("GET", "/v1/metrics/query?name=server_cpu_utilization_ratio", a)
    assert [s["labels"]["server"] for s in seen["series"]] == [servers["a"]]
    every = await api.ok("GET", "/v1/metrics/query?name=server_cpu_utilization_ratio", admin)
    assert len(every["series"]) == 2


async def test_a_site_scope_rule_goes_to_its_site_and_its_history_comes_back_once(
    api: Api,
) -> None:
    admin = await api.admin()
    site = await api.ok("POST", "/v1/sites", admin, {"name": "edge-4"})
    rule = {"metric": "storage_images_usage_ratio", "threshold": 0.9, "period": 0}
    alarm = await api.ok("POST", "/v1/alarms", admin, {
        "name": "cache-full", "type": "threshold", "scope": "site", "site": "edge-4",
        "rule": rule})  # fmt: skip
    placed = await api.store.get(intent.SITE_OBJECT,
                                 intent.object_key(site["id"], "alarm", alarm["id"]))  # fmt: skip
    assert placed.value["desired"]["spec"]["metric"] == "storage_images_usage_ratio"
    body = {"op": "action", "action": "alarm_state", "kind": "alarm", "id": alarm["id"],
            "base_hub_revision": placed.revision, "desired": None, "at": api.clock.now + 30,
            "actor": "alarm-evaluator", "state": "alarm", "previous": "insufficient_data",
            "reason": "storage_images_usage_ratio is 0.95, above 0.9 for 0 s"}  # fmt: skip
    site_value = {"id": site["id"], "name": "edge-4"}
    for _ in range(2):  # delivered twice (a reconnect): recorded once
        await record_operation(api.store, site_value, 7, body, iso(api.clock.now))
    shown = await api.ok("GET", f"/v1/alarms/{alarm['id']}", admin)
    assert shown["state"] == "alarm" and shown["state_timestamp"] == iso(api.clock.now + 30)
    history = (await api.ok("GET", f"/v1/alarms/{alarm['id']}/history", admin))["items"]
    from_site = [h for h in history if h["source"] == "site"]
    assert len(from_site) == 1 and from_site[0]["site"] == "edge-4" and from_site[0]["seq"] == 7
    status, _, _ = await api.call("DELETE", f"/v1/alarms/{alarm['id']}", admin)
    assert status == 204
    with pytest.raises(NotFound):
        await api.store.get(intent.SITE_OBJECT, placed.key)


async def test_a_deleted_projects_alarms_go_with_it(api: Api) -> None:
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "gone"})
    project_id = (await api.store.get("project", "gone")).value["id"]
    alarm = await api.ok("POST", "/v1/alarms", admin, {
        "name": "theirs", "type": "threshold", "project_id": project_id,
        "rule": {"metric": "host_memory_available_bytes", "comparison": "lt",
                 "threshold": 1}})  # fmt: skip
    status, _, _ = await api.call("DELETE", "/v1/projects/gone", admin)
    assert status == 204
    status, _, _ = await api.call("GET", f"/v1/alarms/{alarm['id']}", admin)
    assert status == 404


async def test_telemetry_from_a_site_bumps_no_store_revision_and_counts_once(api: Api) -> None:
    admin = await api.admin()
    site = await api.ok("POST", "/v1/sites", admin, {"name": "edge-5"})
    _, keeper = parts(api)
    now = api.clock.now // 60 * 60  # a whole minute: a site's points are on one
    body = {"step": 60, "fields": FIELDS, "points": [
        ["host_memory_available_bytes", {}, now - 60, 7.0, 6.0, 8.0, 6]]}  # fmt: skip
    before = await api.store.revision()
    for _ in range(2):  # sent again after a lost ack: the same point, once
        done = await record_facts(api.store, keeper, site, (Fact(seq=1, type="telemetry",
                                  body=body),), 0, iso(now), FactBudget(100))  # fmt: skip
        assert done.acked_seq == 1 and done.telemetry == 1
    assert await api.store.revision() == before
    found = await keeper.query("host_memory_available_bytes", now - 120, now, 60, [site["id"]])
    assert [s.points for s in found] == [[(now - 60, 7.0, 6.0, 8.0)]]
