"""Alarm webhooks, each on its own: a real aiohttp receiver, :class:`Webhooks` as the
evaluator drives it (state changes submitted once claimed)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from atoll.hub.alarms.webhooks import QUEUE_LIMIT, Webhooks
from atoll.hub.settings import HubSettings
from atoll.jsonbody import JSON

pytestmark = pytest.mark.integration
WAIT = 30.0  # seconds at most for something that must happen


class Receiver:
    """``/fast`` answers at once, ``/slow`` after ``slow_delay``, ``/flaky`` 503 to its
    first ``failures`` calls, ``/held`` once ``release`` is set. ``got``: (when it was
    answered, path, body), in order."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str, JSON]] = []
        self.slow_delay = 2.0
        self.failures = 0
        self.release = asyncio.Event()
        self.held = asyncio.Event()  # a /held call is waiting
        app = web.Application()
        app.router.add_post("/{path}", self.hook)
        self.server = TestServer(app)

    def url(self, path: str) -> str:
        return str(self.server.make_url(f"/{path}"))

    async def hook(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body = await request.json()
        if path == "flaky" and self.failures > 0:
            self.failures -= 1
            return web.Response(status=503)
        if path == "slow":
            await asyncio.sleep(self.slow_delay)
        if path == "held":
            self.held.set()
            await self.release.wait()
        self.got.append((time.monotonic(), path, body))
        return web.json_response({"ok": True})

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.got]

    async def until(self, count: int) -> None:
        deadline = time.monotonic() + WAIT
        while len(self.got) < count:
            assert time.monotonic() < deadline, f"got {self.paths()}, waiting for {count}"
            await asyncio.sleep(0.01)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.server.start_server()
    try:
        yield r
    finally:
        r.release.set()
        await r.server.close()


async def allowed(url: str) -> None:
    return None  # the receiver is on this machine


def alarm(key: str, project: str, url: str, state: str = "alarm") -> JSON:
    return {"id": key, "name": key, "project_id": project, "state": state, "webhooks": [url]}


@pytest.fixture
async def hooks() -> AsyncIterator[list[Webhooks]]:
    """Webhooks made by a test (``made.append``), stopped after it."""
    made: list[Webhooks] = []
    yield made
    for w in made:
        await w.stop()


def started(made: list[Webhooks], rng: random.Random | None = None, **changes: Any) -> Webhooks:
    settings = dataclasses.replace(HubSettings(), **changes)
    webhooks = Webhooks(settings, allowed, rng=rng)
    webhooks.start()
    made.append(webhooks)
    return webhooks


async def test_one_project_gets_at_most_its_share_of_the_calls(
    receiver: Receiver, hooks: list[Webhooks]
) -> None:
    """a's two slow webhooks would take both slots; its share is one."""
    webhooks = started(hooks, alarm_webhook_concurrency=2, alarm_webhook_project_share=1,
                       alarm_webhook_slow=60.0)  # fmt: skip
    for key in ("a1", "a2"):
        webhooks.submit(alarm(key, "pa", receiver.url("slow")), "ok")
    await asyncio.sleep(0.2)  # a's first call is under way
    asked = time.monotonic()
    webhooks.submit(alarm("b1", "pb", receiver.url("fast")), "ok")
    await receiver.until(1)
    answered, path, body = receiver.got[0]
    assert (path, body["alarm_id"]) == ("fast", "b1")
    assert answered - asked < 1.0  # a's calls take 2 s each


async def test_a_retried_call_waits_without_its_slot_and_keeps_its_order(
    receiver: Receiver, hooks: list[Webhooks]
) -> None:
    """One slot: x's webhook fails twice (503) and is retried after 1 s and 2 s; y's is
    called meanwhile, and x's two changes arrive in order."""
    webhooks = started(hooks, alarm_webhook_concurrency=1, alarm_webhook_attempts=3)
    receiver.failures = 2
    webhooks.submit(alarm("x", "p", receiver.url("flaky"), "alarm"), "ok")
    webhooks.submit(alarm("x", "p", receiver.url("flaky"), "ok"), "alarm")
    await asyncio.sleep(0.2)  # x's first try failed
    webhooks.submit(alarm("y", "p", receiver.url("fast")), "ok")
    await receiver.until(3)
    assert receiver.paths() == ["fast", "flaky", "flaky"]
    assert [body["current"] for _, path, body in receiver.got if path == "flaky"] == [
        "alarm",
        "ok",
    ]
    assert webhooks.queued == 0


async def test_a_slow_webhook_is_backed_off_before_its_next_call(
    receiver: Receiver, hooks: list[Webhooks], caplog: pytest.LogCaptureFixture
) -> None:
    class Widest(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    caplog.set_level(logging.WARNING, logger="atoll.hub.alarms.webhooks")
    webhooks = started(hooks, Widest(), alarm_webhook_slow=0.2)
    receiver.slow_delay = 0.3
    for state in ("alarm", "ok"):
        webhooks.submit(alarm("s", "p", receiver.url("slow"), state), None)
    await receiver.until(2)
    first, second = (at for at, _, _ in receiver.got)
    assert second - first >= 1.0 + 0.3  # the backoff's first window, then its answer
    said = [r.getMessage() for r in caplog.records if r.name == "atoll.hub.alarms.webhooks"]
    assert len([m for m in said if "is slow, backing off" in m]) == 1, said


async def test_a_webhook_that_does_not_answer_keeps_only_its_newest_changes(
    receiver: Receiver, hooks: list[Webhooks]
) -> None:
    webhooks = started(hooks)
    url = receiver.url("held")
    webhooks.submit(alarm("h", "p", url, "state-0"), None)
    await asyncio.wait_for(receiver.held.wait(), WAIT)  # the first is being sent
    extra = 5
    for n in range(1, QUEUE_LIMIT + extra):
        webhooks.submit(alarm("h", "p", url, f"state-{n}"), None)
    assert webhooks.queued == QUEUE_LIMIT
    receiver.release.set()
    await receiver.until(QUEUE_LIMIT)
    states = [body["current"] for _, _, body in receiver.got]
    kept = [f"state-{n}" for n in range(extra + 1, QUEUE_LIMIT + extra)]
    assert states == ["state-0", *kept]  # the one in flight, then the newest, in order
