"""Alarm actions by webhook: ``POST`` the alarm's state change to each of its URLs, each
webhook on its own.

Through the one HTTP client core (:class:`atoll.client.aio.AsyncClient`): a JSON body
``{"alarm_id", "alarm_name", "project_id", "site", "severity", "previous", "current",
"reason", "timestamp"}``, no credentials, redirects not followed. Before every try the URL
is checked by ``check`` (the hub's one rule for addresses a tenant makes it call,
:func:`atoll.hub.lcm.callbacks.check_address`, handed in by the app): a refused address is
not called; and the connection goes only to addresses ``resolver`` allows by that rule
(:class:`atoll.hub.lcm.callbacks.CheckedResolver`, handed in too).

:class:`Webhooks` keeps one queue per alarm and URL, of the state changes still to send
there in the order they happened (:meth:`Webhooks.submit`, by the evaluator once it has
claimed a change). Its :class:`~atoll.background.Loop` hands each queue with something due a
turn in a bounded pool (:class:`~atoll.background.Workers`): ``alarm_webhook_concurrency``
calls at once, at most ``alarm_webhook_project_share`` of them one project's, one per queue.
So one tenant's slow or dead webhook delays nothing but its own alarm's next calls, and
never the evaluation.

* A call that fails (cannot connect, times out, or answers 5xx/429) is tried again after
  1 s, 2 s, ... up to ``alarm_webhook_attempts`` tries; meanwhile its queue waits and its
  slot serves others. A 4xx other than 429, a redirect or a refused address is not
  retried. A change given up is logged (once per change).
* A webhook that answers in ``alarm_webhook_slow`` seconds or more got the change, and is
  backed off (:data:`SLOW_BACKOFF`, with full jitter) before its next one: logged once
  when it turns slow and once when it recovers.
* Bounded: a queue holds at most :data:`QUEUE_LIMIT` changes (the oldest beyond that are
  dropped, logged), and is forgotten once it is empty and not backed off.

Delivery is at most once, as it always was: the evaluator claims a change in the store
before it is queued, and changes still queued when the hub stops are dropped (logged).
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver

from atoll.background import FailureLog, Loop, LoopSettings, WorkerLimits, Workers
from atoll.client.aio import TENANT_REPLY, AsyncClient
from atoll.errors import AtollError, TooSlow
from atoll.hub.settings import HubSettings
from atoll.jsonbody import JSON
from atoll.sync.backoff import Backoff, Retries

Check = Callable[[str], Awaitable[None]]  # raises (not retryable) if the URL may not be called

log = logging.getLogger(__name__)

QUEUE_LIMIT = 16  # state changes waiting for one webhook of one alarm, at most (2 or more)
TURN_CALLS = 16  # calls one turn makes at most before the queue waits its turn again
SLOW_BACKOFF = Backoff(1.0, 2.0, 60.0)  # seconds a slow webhook waits before its next call
STOP_GRACE = 10.0  # seconds stop() lets the calls in progress finish

Key = tuple[str, str]  # (alarm id, URL)


def payload(alarm: JSON, previous: str | None) -> JSON:
    return {
        "alarm_id": alarm["id"],
        "alarm_name": alarm["name"],
        "project_id": alarm.get("project_id"),
        "site": alarm.get("site"),
        "severity": alarm.get("severity"),
        "previous": previous,
        "current": alarm["state"],
        "reason": alarm.get("state_reason", ""),
        "timestamp": alarm.get("state_timestamp"),
    }


@dataclass
class _Queue:
    """One alarm's changes still to send to one URL, oldest first."""

    url: str
    project: str  # the alarm's project ("" for a system alarm): its share of the pool
    slow: Retries
    health: FailureLog
    bodies: deque[JSON] = field(default_factory=deque)
    due: float = 0.0  # when it may have its next turn (timer seconds)
    attempts: int = 0  # tries of the change at its head


class Webhooks:
    """The alarm webhook queues of one hub and the loop that serves them (module
    docstring). ``timer``: monotonic seconds (retries and slowness are durations)."""

    def __init__(
        self,
        settings: HubSettings,
        check: Check,
        *,
        resolver: AbstractResolver | None = None,
        timer: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.check = check
        self.resolver = resolver  # the connections' lookups (the app's: the same rule)
        self.timer = timer
        self.rng = rng or random.Random()
        self.loop = Loop("calling alarm webhooks", self.run_pass, LoopSettings(), logger=log)
        limits = WorkerLimits(
            settings.alarm_webhook_concurrency, settings.alarm_webhook_project_share
        )
        self.workers = Workers("calling alarm webhooks", limits, done=self.loop.kick, logger=log)
        self._queues: dict[Key, _Queue] = {}
        self._stopping = False

    @property
    def queued(self) -> int:
        """State changes waiting to be sent (those being sent included)."""
        return sum(len(q.bodies) for q in self._queues.values())

    def start(self) -> None:
        self._stopping = False
        self.loop.start()

    async def stop(self) -> None:
        """Finish the calls in progress, make no other; drop what is still queued."""
        self._stopping = True
        await self.loop.stop()
        await self.workers.stop(STOP_GRACE)
        if self.queued:
            log.warning("alarm webhooks: %d state changes not sent (stopping)", self.queued)
        self._queues.clear()

    def submit(self, alarm: JSON, previous: str | None) -> None:
        """Queue the alarm's state change for each of its webhooks (in order after the
        changes queued before it)."""
        body = payload(alarm, previous)
        for url in alarm.get("webhooks") or []:
            key = (str(alarm["id"]), str(url))
            queue = self._queues.get(key)
            if queue is None:
                name = f"calling webhook {url} of alarm {alarm['id']}"
                queue = _Queue(
                    str(url),
                    str(alarm.get("project_id") or ""),
                    Retries(SLOW_BACKOFF, self.rng),
                    FailureLog(name, log),
                )
                self._queues[key] = queue
            if len(queue.bodies) >= QUEUE_LIMIT:  # the oldest goes (not the one being sent)
                oldest = 1 if self.workers.busy(key) else 0
                dropped = queue.bodies[oldest]
                del queue.bodies[oldest]
                log.warning(
                    "alarm webhook %s: change to %s of alarm %s dropped (%d waiting already)",
                    url,
                    dropped["current"],
                    alarm["id"],
                    QUEUE_LIMIT,
                )
            queue.bodies.append(body)
        self.loop.kick()

    async def run_pass(self) -> float | None:
        """Start a turn for each queue with a change due (as the pool has room); the
        seconds until the next one waiting is due."""
        now = self.timer()
        ready: list[tuple[float, Key, _Queue]] = []
        waits: list[float] = []
        for key, queue in list(self._queues.items()):
            if self.workers.busy(key) or self._stopping:
                continue
            if queue.due > now:
                if queue.bodies:
                    waits.append(queue.due - now)
            elif queue.bodies:
                ready.append((queue.due, key, queue))
            else:
                del self._queues[key]  # nothing to send, not backed off: forget it
        ready.sort(key=lambda r: r[0])  # the longest waiting first
        for _, key, queue in ready:
            self.workers.start(key, queue.project, functools.partial(self._turn, queue))
        return max(0.0, min(waits)) if waits else None

    async def _turn(self, queue: _Queue) -> None:
        """Send the queue's changes in order until one fails, an answer is slow, or the
        turn's share is sent."""
        client = AsyncClient(
            queue.url,
            timeout=self.settings.alarm_webhook_timeout,
            resolver=self.resolver,
            max_reply=TENANT_REPLY,
        )
        client.what = f"webhook {queue.url}"
        try:
            for _ in range(TURN_CALLS):
                if self._stopping or not queue.bodies or not await self._call(client, queue):
                    return
        finally:
            await client.close()
            queue.due = max(queue.due, self.timer())

    async def _call(self, client: AsyncClient, queue: _Queue) -> bool:
        """POST the change at the queue's head once; whether the turn may go on."""
        began = self.timer()
        queue.attempts += 1
        try:
            await self.check(queue.url)
            reply = await client.reply(
                "POST", "", queue.bodies[0], auth=False, follow_redirects=False
            )
            if reply.status >= 300:
                self._give_up(queue, f"answered {reply.status} (not followed)")
                return True
        except AtollError as exc:
            if not exc.retryable:  # the receiver refuses it: asking again will not help
                self._give_up(queue, exc.message)
                return True
            if queue.attempts >= self.settings.alarm_webhook_attempts:
                self._give_up(queue, exc.message)
                return True
            queue.due = self.timer() + float(queue.attempts)  # 1 s, 2 s, ...
            return False
        queue.bodies.popleft()
        queue.attempts = 0
        took = self.timer() - began
        if took >= self.settings.alarm_webhook_slow:
            queue.health.failed(TooSlow("the webhook", took, self.settings.alarm_webhook_slow))
            queue.due = self.timer() + queue.slow.next_delay()
            return False
        queue.health.succeeded()
        queue.slow.reset()
        return True

    def _give_up(self, queue: _Queue, error: str) -> None:
        log.warning(
            "alarm webhook %s failed after %d attempts: %s", queue.url, queue.attempts, error
        )
        queue.bodies.popleft()
        queue.attempts = 0
