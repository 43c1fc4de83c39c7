"""LCM subscriptions and notification delivery, end to end over real HTTP: a hub app on
SQLite (restarted on the same file where a test says so) and a real aiohttp subscriber
with basic auth, an OAuth 2.0 token endpoint, and a switch to take it off the network.

Notifications are recorded with :func:`atoll.hub.lcm.outbox.emit`, as the engine does."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.app import DELIVERY, build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.lcm import outbox, subscriptions
from atoll.hub.lcm.delivery import Delivery
from atoll.hub.lcm.outbox import Notification, emit
from atoll.hub.settings import HubSettings
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.query import list_all
from atoll.hub.store.sqlite import SQLiteStore
from atoll.nfv.lcm.notifications import LccnSubscriptionRequest
from atoll.passwords import Passwords
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api, FakeClock
from tests.hub.lcm.notification_cases import instance, occ, op_notification

pytestmark = pytest.mark.integration

SETTINGS = dataclasses.replace(
    TEST_SETTINGS,
    lcm_callback_loopback=True,  # the subscriber is on this machine
    lcm_delivery_interval=0.05,
    lcm_callback_max_backoff=0.2,
    lcm_callback_timeout=5.0,
    lcm_notification_retention=1e9,  # the cases are stamped 2026-11-30: never past it
    nfv_page_size=2,
)
V2 = {"Version": "2.0.0"}
WAIT = 30.0  # seconds at most for something the hub does on its own


class Subscriber:
    """A real notification consumer: ``/cb`` (no auth), ``/basic`` (user ``u``/``pw``),
    ``/oauth`` (a bearer from its ``/token`` endpoint, client ``c``/``secret``), and
    ``/slow`` and ``/slow1``...``/slow3`` (no auth, each answering after ``slow_delay``).
    ``answered[path]``: when each notification was answered (``time.monotonic()``)."""

    def __init__(self) -> None:
        paths = ("cb", "basic", "oauth", "slow", "slow1", "slow2", "slow3")
        self.got: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
        self.answered: dict[str, list[float]] = {p: [] for p in paths}
        self.tokens_issued = 0
        self.test_status = 204
        self.delay = 0.0
        self.slow_delay = 0.0
        self.slow_called = asyncio.Event()  # a /slow... path got a notification (answering)
        self.runner: web.AppRunner | None = None
        self.port = 0
        app = web.Application()
        app.router.add_route("*", "/{path}", self.handle)
        app.router.add_post("/token", self.token)
        self.app = app

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        expected = "Basic " + base64.b64encode(b"c:secret").decode()
        if form.get("grant_type") != "client_credentials" or (
            request.headers.get("Authorization") != expected
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.tokens_issued += 1
        return web.json_response({"access_token": f"tok-{self.tokens_issued}", "expires_in": 3600})

    async def handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        wanted = {
            "basic": "Basic " + base64.b64encode(b"u:pw").decode(),
            "oauth": f"Bearer tok-{self.tokens_issued}",
        }.get(path)
        if path not in self.got:
            return web.Response(status=404)
        if wanted is not None and request.headers.get("Authorization") != wanted:
            return web.Response(status=401)
        if request.method == "GET":
            return web.Response(status=self.test_status)
        assert request.headers.get("Version") == "2.0.0"
        body = await request.json()
        if path.startswith("slow"):
            self.slow_called.set()
            await asyncio.sleep(self.slow_delay)
        await asyncio.sleep(self.delay)
        self.got[path].append(body)
        self.answered[path].append(time.monotonic())
        return web.Response(status=204)

    def ids(self, path: str) -> list[str]:
        return [n["id"] for n in self.got[path]]


@dataclasses.dataclass
class Hub:
    """A hub app on SQLite in ``workdir``; :meth:`restart` builds it again on the same file."""

    workdir: Path
    key: Ed25519PrivateKey
    api: Api | None = None
    store: SQLiteStore | None = None

    async def start(self) -> Api:
        self.store = SQLiteStore(self.workdir / "hub.db", durable=False)
        if await self.store.revision() == 0:
            await seed_admin(self.store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
        app = build_app(SETTINGS, self.store, self.key, time.time)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        tokens = self.api.tokens if self.api is not None else {}
        self.api = Api(client, FakeClock(), tokens)
        return self.api

    async def stop(self) -> None:
        assert self.api is not None and self.store is not None
        await self.api.client.close()  # the app's cleanup: delivery stops gracefully
        await self.store.close()

    async def restart(self) -> Api:
        await self.stop()
        return await self.start()

    async def project_id(self, name: str) -> str:
        assert self.store is not None
        return str((await self.store.get("project", name)).value["id"])

    async def emit(self, note: Notification) -> None:
        assert self.store is not None
        await emit(self.store, note)


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    s = Subscriber()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def hub(tmp_path: Path, signing_key: Ed25519PrivateKey) -> AsyncIterator[Hub]:
    h = Hub(tmp_path, signing_key)
    api = await h.start()
    admin = await api.admin()
    for project in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": project})
    yield h
    await h.stop()


async def subscribe(api: Api, token: str, body: dict[str, Any]) -> dict[str, Any]:
    status, data, headers = await api.call("POST", "/vnflcm/v2/subscriptions", token, body, V2)
    assert status == 201, data
    assert headers["Location"].endswith(f"/vnflcm/v2/subscriptions/{data['id']}")
    assert "authentication" not in data
    return dict(data)


async def until(what: str, check: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        await asyncio.sleep(0.02)


async def test_creation_calls_the_callback_and_refuses_one_that_fails(
    hub: Hub, subscriber: Subscriber
) -> None:
    assert hub.api is not None
    token = await hub.api.user_with_role("alice", "a", "member")
    subscriber.test_status = 200  # SOL003: the test GET must answer 204
    status, data, _ = await hub.api.call(
        "POST", "/vnflcm/v2/subscriptions", token, {"callbackUri": subscriber.url("cb")}, V2
    )
    assert status == 422, data
    assert "answered 200, not 204" in data["problems"][0]["what"]
    gone = f"http://127.0.0.1:{subscriber.port}/cb"
    await subscriber.stop()  # nobody listens there now
    status, data, _ = await hub.api.call(
        "POST", "/vnflcm/v2/subscriptions", token, {"callbackUri": gone}, V2
    )
    assert status == 422, data
    wrong = {"callbackUri": gone.replace("/cb", "/basic"), "authentication": {
        "authType": ["BASIC"]}}  # fmt: skip
    status, data, _ = await hub.api.call("POST", "/vnflcm/v2/subscriptions", token, wrong, V2)
    assert status == 400, data  # BASIC without its parameters
    for bad in ("http://[::1/cb", "http://vnfm:99999/cb", "http://a..b/cb"):  # never a 500
        status, data, _ = await hub.api.call(
            "POST", "/vnflcm/v2/subscriptions", token, {"callbackUri": bad}, V2
        )
        assert status == 422 and data["problems"][0]["where"] == "body.callbackUri", data
    status, data, _ = await hub.api.call("GET", "/vnflcm/v2/subscriptions", token, None, V2)
    assert (status, data) == (200, [])


async def test_basic_and_oauth2_subscribers_get_what_their_filter_takes_in_their_project(
    hub: Hub, subscriber: Subscriber
) -> None:
    api = hub.api
    assert api is not None
    alice = await api.user_with_role("alice", "a", "member")
    bob = await api.user_with_role("bob", "b", "member")
    basic = await subscribe(api, alice, {
        "callbackUri": subscriber.url("basic"),
        "filter": {"notificationTypes": ["VnfLcmOperationOccurrenceNotification"],
                   "operationStates": ["COMPLETED"]},
        "authentication": {"authType": ["BASIC"],
                           "paramsBasic": {"userName": "u", "password": "pw"}},
    })  # fmt: skip
    oauth = await subscribe(api, alice, {
        "callbackUri": subscriber.url("oauth"),
        "authentication": {"authType": ["OAUTH2_CLIENT_CREDENTIALS"],
                           "paramsOauth2ClientCredentials": {
                               "clientId": "c", "clientPassword": "secret",
                               "tokenEndpoint": subscriber.url("token")}},
    })  # fmt: skip
    other = await subscribe(api, bob, {"callbackUri": subscriber.url("cb")})
    a, b = await hub.project_id("a"), await hub.project_id("b")
    states = ("STARTING", "PROCESSING", "COMPLETED")
    for n, state in enumerate(states):
        await hub.emit(op_notification(a, n, state))  # type: ignore[arg-type]
    await hub.emit(op_notification(b, 9, "STARTING"))
    deleted = Notification.of_identifier(
        "VnfIdentifierDeletionNotification", a, instance(), "2026-11-30T23:59:00+00:00"
    )
    await hub.emit(deleted)
    await until("4 notifications at the OAuth 2.0 subscriber", lambda: (
        len(subscriber.got["oauth"]) == 4 and subscriber.got["basic"] and subscriber.got["cb"]
    ))  # fmt: skip
    assert [n.get("operationState") for n in subscriber.got["oauth"]] == [*states, None]
    last = subscriber.got["oauth"][-1]
    assert last["notificationType"] == "VnfIdentifierDeletionNotification"
    assert last["vnfInstanceId"] == "inst-1"
    assert {n["subscriptionId"] for n in subscriber.got["oauth"]} == {oauth["id"]}
    assert [n["operationState"] for n in subscriber.got["basic"]] == ["COMPLETED"]
    assert subscriber.got["basic"][0]["subscriptionId"] == basic["id"]
    assert [n["vnfLcmOpOccId"] for n in subscriber.got["cb"]] == ["occ-9"]  # b's only
    assert subscriber.got["cb"][0]["subscriptionId"] == other["id"]
    assert subscriber.tokens_issued == 2  # one for the test at creation, one kept since
    metrics = await api.client.get("/metrics", headers={"X-Auth-Token": await api.admin()})
    assert "atoll_hub_lcm_notifications_delivered_total 6.0" in await metrics.text()
    # each project sees its own subscriptions only, and the filter applies
    _, mine, _ = await api.call("GET", "/vnflcm/v2/subscriptions", alice, None, V2)
    assert sorted(s["id"] for s in mine) == sorted([basic["id"], oauth["id"]])
    path = f"/vnflcm/v2/subscriptions?filter=(eq,callbackUri,{subscriber.url('basic')})"
    _, found, _ = await api.call("GET", path, alice, None, V2)
    assert [s["id"] for s in found] == [basic["id"]]
    for method, sub, status in [
        ("GET", other, 404),
        ("DELETE", other, 404),
        ("DELETE", basic, 204),
        ("GET", basic, 404),
    ]:
        path = f"/vnflcm/v2/subscriptions/{sub['id']}"
        assert (await api.call(method, path, alice, None, V2))[0] == status, (method, sub)


async def test_a_subscriber_that_was_down_gets_everything_it_missed_once_in_order(
    hub: Hub, subscriber: Subscriber
) -> None:
    api = hub.api
    assert api is not None
    alice = await api.user_with_role("alice", "a", "member")
    await subscribe(api, alice, {"callbackUri": subscriber.url("cb")})
    a = await hub.project_id("a")
    await hub.emit(op_notification(a, 0))
    await until("the first notification", lambda: len(subscriber.got["cb"]) == 1)
    await subscriber.stop()
    for n in range(1, 8):
        await hub.emit(op_notification(a, n))
    delivery = api.client.app[DELIVERY]
    failed = delivery.metrics.failures._value.get()
    await until("failed attempts while it is down", lambda: (
        delivery.metrics.failures._value.get() >= failed + 3))  # fmt: skip
    await subscriber.start()  # back, on the same port
    await until("all 8 notifications", lambda: len(subscriber.got["cb"]) >= 8)
    await asyncio.sleep(0.3)  # a few more delivery passes: nothing more may come
    got = [n["vnfLcmOpOccId"] for n in subscriber.got["cb"]]
    assert got == [f"occ-{n}" for n in range(8)]
    assert len(set(subscriber.ids("cb"))) == 8


async def test_each_notification_arrives_exactly_once_across_a_hub_restart(
    hub: Hub, subscriber: Subscriber
) -> None:
    api = hub.api
    assert api is not None
    alice = await api.user_with_role("alice", "a", "member")
    await subscribe(api, alice, {"callbackUri": subscriber.url("cb")})
    a = await hub.project_id("a")
    subscriber.delay = 0.03  # a slow subscriber: the restart comes mid-stream
    emitted = [op_notification(a, n) for n in range(30)]
    for note in emitted:
        await hub.emit(note)
    await until("the stream to start", lambda: len(subscriber.got["cb"]) >= 5)
    api = await hub.restart()
    assert len(subscriber.got["cb"]) < 30, "the restart came after the stream"
    for n in range(30, 35):  # and more after the restart
        await hub.emit(op_notification(a, n))
    await until("all 35 notifications", lambda: len(subscriber.got["cb"]) >= 35)
    await asyncio.sleep(0.3)
    counts = Counter(subscriber.ids("cb"))
    assert len(counts) == 35 and set(counts.values()) == {1}, counts.most_common(3)
    got = [n["vnfLcmOpOccId"] for n in subscriber.got["cb"]]
    assert got == [f"occ-{n}" for n in range(35)]


async def test_the_list_is_sol013_a_bare_array_paged_by_link_and_needs_version(
    hub: Hub, subscriber: Subscriber
) -> None:
    api = hub.api
    assert api is not None
    alice = await api.user_with_role("alice", "a", "member")
    made = [
        (await subscribe(api, alice, {"callbackUri": subscriber.url("cb")}))["id"] for _ in "xyz"
    ]
    status, first, headers = await api.call("GET", "/vnflcm/v2/subscriptions", alice, None, V2)
    assert status == 200 and [s["id"] for s in first] == made[:2]
    assert headers["Version"] == "2.0.0"
    link = headers["Link"]
    assert link.endswith('>; rel="next"')
    next_page = link[link.index("/vnflcm/") : link.index(">")]
    status, rest, headers = await api.call("GET", next_page, alice, None, V2)
    assert [s["id"] for s in rest] == made[2:] and "Link" not in headers
    status, problem, headers = await api.call("GET", "/vnflcm/v2/subscriptions", alice)
    assert status == 400 and headers["Content-Type"].startswith("application/problem+json")
    assert problem["status"] == 400 and "Version" in problem["detail"]


async def test_the_outbox_keeps_only_what_a_subscriber_still_needs_within_retention() -> None:
    """Bounded: a notification goes once every subscription is past it, or when it is
    older than the retention, delivered or not (here the subscriber never answers)."""
    store = MemoryStore()
    now = datetime(2026, 11, 30, 23, 0, tzinfo=UTC).timestamp()
    settings = HubSettings(lcm_notification_retention=3600.0, lcm_callback_loopback=True)
    delivery = Delivery(store, settings, lambda: now)
    down = LccnSubscriptionRequest.from_wire({"callbackUri": "http://127.0.0.1:9/cb"})
    sub = await subscriptions.create(store, "p1", down)
    old = Notification.of_op(
        "p1", instance(), occ("o-old", "STARTING", "2026-11-30T21:00:00+00:00")
    )
    new = Notification.of_op(
        "p1", instance(), occ("o-new", "STARTING", "2026-11-30T22:59:00+00:00")
    )
    for note in (old, new):
        await emit(store, note)
    try:
        await delivery.run_pass()  # the subscriber is unreachable: nothing is delivered
        await delivery.workers.join()
        left = await list_all(store, outbox.KIND, {})
        assert [r.key for r in left] == [new.id]  # the old one is past retention
        assert delivery.metrics.failures._value.get() == 1
        await subscriptions.remove(store, sub)
        await delivery.run_pass()
        assert await list_all(store, outbox.KIND, {}) == []  # nobody needs it any more
    finally:
        await delivery.stop()


# -- each subscriber on its own ------------------------------------------------------------


async def test_a_slow_subscriber_does_not_hold_back_another_projects_notifications(
    hub: Hub, subscriber: Subscriber
) -> None:
    """Before, a delivery pass waited for every subscriber, and a's callback answering in
    1 s (not slow enough to count as failing) held b's notification for ten of them."""
    api = hub.api
    assert api is not None
    alice = await api.user_with_role("alice", "a", "member")
    bob = await api.user_with_role("bob", "b", "member")
    await subscribe(api, alice, {"callbackUri": subscriber.url("slow")})
    await subscribe(api, bob, {"callbackUri": subscriber.url("cb")})
    a, b = await hub.project_id("a"), await hub.project_id("b")
    subscriber.slow_delay = 1.0  # under lcm_callback_slow: a is not even backed off
    for n in range(10):
        await hub.emit(op_notification(a, n))
    await asyncio.wait_for(subscriber.slow_called.wait(), WAIT)  # a's delivery is under way
    asked = time.monotonic()
    await hub.emit(op_notification(b, 99))
    await until("b's notification", lambda: subscriber.got["cb"])
    assert subscriber.answered["cb"][0] - asked < 4.0  # a's ten take 10 s
    so_far = [n["vnfLcmOpOccId"] for n in subscriber.got["slow"]]
    assert len(so_far) < 10 and so_far == [f"occ-{n}" for n in range(len(so_far))]


def delivery_settings(**changes: Any) -> HubSettings:
    """Delivery on its own (no app): callbacks on this machine, notifications kept."""
    base = HubSettings(
        lcm_callback_loopback=True,
        lcm_delivery_interval=0.05,
        lcm_callback_timeout=5.0,
        lcm_notification_retention=1e9,
    )
    return dataclasses.replace(base, **changes)


async def subscribe_directly(store: MemoryStore, project: str, url: str) -> None:
    await subscriptions.create(
        store, project, LccnSubscriptionRequest.from_wire({"callbackUri": url})
    )


async def test_one_project_gets_at_most_its_share_of_the_deliveries(
    subscriber: Subscriber,
) -> None:
    """a's three slow subscribers would take both delivery slots; its share is one, so b's
    subscriber gets the other at once."""
    store = MemoryStore()
    settings = delivery_settings(
        lcm_delivery_concurrency=2, lcm_delivery_project_share=1, lcm_callback_slow=60.0
    )
    delivery = Delivery(store, settings, time.time)
    for path in ("slow1", "slow2", "slow3"):
        await subscribe_directly(store, "pa", subscriber.url(path))
    await subscribe_directly(store, "pb", subscriber.url("cb"))
    subscriber.slow_delay = 1.0
    for n in range(3):
        await emit(store, op_notification("pa", n))
    delivery.start()
    try:
        await asyncio.wait_for(subscriber.slow_called.wait(), WAIT)
        asked = time.monotonic()
        await emit(store, op_notification("pb", 99))
        await until("b's notification", lambda: subscriber.got["cb"])
        assert subscriber.answered["cb"][0] - asked < 2.0  # a's turns take 3 s each
        assert delivery.workers.running <= 2
        for path in ("slow1", "slow2", "slow3"):  # a's go on, each in order
            so_far = [n["vnfLcmOpOccId"] for n in subscriber.got[path]]
            assert so_far == [f"occ-{n}" for n in range(len(so_far))]
    finally:
        await delivery.stop()


class Widest(random.Random):
    """Backoff jitter that always picks the widest wait (the tests read the windows)."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_a_slow_callback_is_backed_off_as_a_failing_one_is_and_recovers(
    subscriber: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="atoll.hub.lcm.delivery")
    store = MemoryStore()
    settings = delivery_settings(lcm_callback_slow=0.2, lcm_callback_max_backoff=2.0)
    delivery = Delivery(store, settings, time.time, rng=Widest())
    await subscribe_directly(store, "pa", subscriber.url("slow"))
    subscriber.slow_delay = 0.3
    for n in range(3):
        await emit(store, op_notification("pa", n))
    delivery.start()
    try:
        await until("three slow answers", lambda: len(subscriber.got["slow"]) == 3)
        first, second, third = subscriber.answered["slow"]
        assert second - first >= 1.0 + 0.3  # the first window, then its answer
        assert third - second >= 2.0 + 0.3  # doubled (the cap)
        assert delivery.metrics.slow._value.get() == 3
        assert delivery.metrics.delivered._value.get() == 3  # slow, but delivered
        subscriber.slow_delay = 0.0
        await emit(store, op_notification("pa", 3))
        await until("the fourth", lambda: len(subscriber.got["slow"]) == 4)
    finally:
        await delivery.stop()
    got = [n["vnfLcmOpOccId"] for n in subscriber.got["slow"]]
    assert got == ["occ-0", "occ-1", "occ-2", "occ-3"]
    said = [r.getMessage() for r in caplog.records if r.name == "atoll.hub.lcm.delivery"]
    assert len([m for m in said if "is slow, backing off" in m]) == 1, said
    assert len([m for m in said if "recovered after 3 failures" in m]) == 1, said


async def test_a_long_backlog_takes_turns_with_the_others(subscriber: Subscriber) -> None:
    """One delivery slot: a's 120 notifications go 50 a turn, and b's, recorded during a's
    first turn, goes before a's next."""
    store = MemoryStore()
    settings = delivery_settings(lcm_delivery_concurrency=1)
    delivery = Delivery(store, settings, time.time)
    await subscribe_directly(store, "pa", subscriber.url("slow"))
    await subscribe_directly(store, "pb", subscriber.url("cb"))
    for n in range(120):
        await emit(store, op_notification("pa", n))
    delivery.start()
    try:
        await asyncio.wait_for(subscriber.slow_called.wait(), WAIT)
        await emit(store, op_notification("pb", 999))
        await until("b's notification", lambda: subscriber.got["cb"])
        before = [t for t in subscriber.answered["slow"] if t < subscriber.answered["cb"][0]]
        assert len(before) == 50
        await until("a's backlog", lambda: len(subscriber.got["slow"]) == 120)
    finally:
        await delivery.stop()
    assert [n["vnfLcmOpOccId"] for n in subscriber.got["slow"]] == [f"occ-{n}" for n in range(120)]


async def test_many_subscribers_are_served_by_a_bounded_pool_that_keeps_no_connection(
    subscriber: Subscriber,
) -> None:
    """40 subscriptions in 4 projects, one notification each: at most 4 deliveries at once
    (2 per project), and no connection is left open once every one is delivered."""
    store = MemoryStore()
    settings = delivery_settings(lcm_delivery_concurrency=4, lcm_delivery_project_share=2)
    delivery = Delivery(store, settings, time.time)
    projects = [f"p{n}" for n in range(4)]
    for n in range(40):
        await subscribe_directly(store, projects[n % 4], subscriber.url("slow"))
    subscriber.slow_delay = 0.05
    for n, project in enumerate(projects):
        await emit(store, op_notification(project, n))
    seen = 0
    delivery.start()
    try:
        deadline = time.monotonic() + WAIT
        while len(subscriber.got["slow"]) < 40:
            assert time.monotonic() < deadline, len(subscriber.got["slow"])
            seen = max(seen, delivery.workers.running)
            await asyncio.sleep(0.005)
        await delivery.workers.join()
        assert 1 < seen <= 4
        assert all(q.subscriber.client._session is None for q in delivery._queues.values())
    finally:
        await delivery.stop()
    assert sorted(n["vnfLcmOpOccId"] for n in subscriber.got["slow"]) == sorted(
        f"occ-{n}" for n in range(4) for _ in range(10)
    )
