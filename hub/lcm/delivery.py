"""Delivering LCM notifications: the outbox (:mod:`.outbox`) to every subscriber, in order,
once.

One :class:`~atoll.background.Loop` (``lcm_delivery_interval`` seconds apart, sooner when a
subscriber's retry is due) reads the ``lcm_notification`` records in the order they were
written and, for each subscription, POSTs those it takes (:func:`.subscriptions.takes`)
after its cursor, one at a time, building the SOL003 body for that subscription (its id is
a pure function of subscription and event, so a subscriber can drop a duplicate).

* **Once, across restarts.** Right after a subscriber's 2xx the subscription's cursor moves
  past that notification in the store (``lcm_delivery``); nothing else moves it except
  notifications the subscription does not take. A hub that stops (or dies) re-sends only
  what was not acknowledged: a notification is sent twice only if the hub died between the
  2xx and that write, and then with the same id. ``stop()`` lets the notification being
  sent finish and starts no other.
* **In order, and what a subscriber missed.** A subscriber that fails (unreachable, 5xx,
  429, a redirect) holds its queue: it is tried again after a backoff with full jitter
  (:class:`atoll.sync.backoff.Backoff`, from 1 s doubling up to
  ``lcm_callback_max_backoff``) and, when it answers again, gets everything after its
  cursor in order. A 4xx is the subscriber refusing that notification: after
  ``lcm_callback_attempts`` tries it is given up (counted and logged) and the queue moves
  on. Failures are logged once per subscriber when they start and once when it recovers.
* **Bounded.** A notification is removed once every subscription's cursor is past it, or
  when it is older than ``lcm_notification_retention`` seconds, delivered or not. With
  several hub replicas on one store each would deliver (duplicates, with the same ids): run
  delivery on one.

Metrics (on the hub's ``/metrics``): ``atoll_hub_lcm_notifications_delivered_total``,
``atoll_hub_lcm_notification_failures_total`` (failed attempts),
``atoll_hub_lcm_notifications_given_up_total`` and ``atoll_hub_lcm_notifications_pending``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from atoll.background import FailureLog, Loop, LoopSettings
from atoll.errors import AtollError, NotFound, StaleRevision, TemporaryError
from atoll.hub.lcm import outbox, subscriptions
from atoll.hub.lcm.callbacks import Subscriber
from atoll.hub.settings import HubSettings
from atoll.hub.store.base import Delete, Record, Store
from atoll.hub.store.query import list_all
from atoll.nfv.lcm.notifications import (
    LccnSubscriptionRequest,
    identifier_notification,
    op_notification,
)
from atoll.sync.backoff import Backoff, Retries

log = logging.getLogger(__name__)

FIRST_RETRY = 1.0  # seconds: the backoff window of a subscriber's first retry (at most the cap)
GC_BATCH = 100  # deletes per store commit when notifications are removed


def body_for(subscription: Record, notification: outbox.Notification, base_url: str) -> Any:
    """The SOL003 notification ``subscription`` is sent for ``notification``."""
    key = subscription.key
    if notification.occ is not None:
        verbosity = subscription.value["request"].get("verbosity", "FULL")
        return op_notification(notification.occ, key, base_url, verbosity)
    assert notification.notification_type != outbox.OP_NOTIFICATION
    return identifier_notification(
        notification.notification_type,  # type: ignore[arg-type]
        notification.instance.id,
        key,
        base_url,
        notification.time_stamp,
    )


@dataclass
class _Queue:
    """One subscription's delivery, in memory (its cursor is in the store)."""

    request: LccnSubscriptionRequest
    subscriber: Subscriber
    retries: Retries
    health: FailureLog
    due: float = 0.0  # when it may be tried again (clock seconds)
    refusals: int = 0  # 4xx answers to the notification at its head


class Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.delivered = Counter(
            "atoll_hub_lcm_notifications_delivered",
            "LCM notifications a subscriber acknowledged (2xx)",
            registry=registry,
        )
        self.failures = Counter(
            "atoll_hub_lcm_notification_failures",
            "attempts to deliver an LCM notification that failed",
            registry=registry,
        )
        self.given_up = Counter(
            "atoll_hub_lcm_notifications_given_up",
            "LCM notifications a subscriber kept refusing (4xx) and that were given up",
            registry=registry,
        )
        self.pending = Gauge(
            "atoll_hub_lcm_notifications_pending",
            "LCM notifications recorded and not yet settled for every subscription",
            registry=registry,
        )


class Delivery:
    """The delivery loop of one hub (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: HubSettings,
        clock: Callable[[], float],
        registry: CollectorRegistry | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.base_url = settings.advertised_url()
        self.metrics = Metrics(registry)
        self.rng = rng or random.Random()
        cap = max(settings.lcm_callback_max_backoff, 0.001)
        self.backoff = Backoff(min(FIRST_RETRY, cap), 2.0, cap)
        self.loop = Loop(
            "delivering LCM notifications",
            self.run_pass,
            LoopSettings(interval=settings.lcm_delivery_interval, stop_timeout=60.0),
            logger=log,
        )
        self._queues: dict[str, _Queue] = {}
        self._stopping = False
        self._quiet_at = -1  # the store revision after a pass that left nothing to do

    def start(self) -> None:
        self._stopping = False
        self.loop.start()

    async def stop(self) -> None:
        """Finish the notification being sent, send no other, close the connections."""
        self._stopping = True
        await self.loop.stop()
        for queue in self._queues.values():
            await queue.subscriber.close()
        self._queues.clear()

    # -- one pass --------------------------------------------------------------------------

    async def run_pass(self) -> float | None:
        """Deliver what is due; the seconds until the next subscriber retry is due."""
        top = await self.store.revision()  # before listing: see _collect
        if top == self._quiet_at:
            return None  # nothing was written since a pass left nothing to do
        subs = await subscriptions.listed(self.store, None)
        await self._forget_removed({s.key for s in subs})
        notes = sorted(
            await list_all(self.store, outbox.KIND, {}), key=lambda r: r.created_revision
        )
        now = self.clock()
        due = [s for s in subs if self._queue(s).due <= now]
        cursors = await asyncio.gather(*(self._deliver(s, notes) for s in due))
        settled = dict(zip((s.key for s in due), cursors, strict=True))
        for sub in subs:
            if sub.key not in settled:
                settled[sub.key] = await self._cursor_value(sub.key)
        pending = await self._collect(notes, min([top, *settled.values()]))
        waits = [q.due - self.clock() for q in self._queues.values() if q.due > 0]
        if not pending and not waits:
            # nothing left: skip passes until anything is written after ``top`` (a pass that
            # wrote cursors or removals runs once more, and finds nothing to write)
            self._quiet_at = top
        return max(0.0, min(waits)) if waits else None

    def _queue(self, sub: Record) -> _Queue:
        queue = self._queues.get(sub.key)
        if queue is None:
            request = subscriptions.request_of(sub)
            subscriber = Subscriber(
                request,
                timeout=self.settings.lcm_callback_timeout,
                allow_loopback=self.settings.lcm_callback_loopback,
                clock=self.clock,
            )
            name = f"delivering LCM notifications to subscription {sub.key}"
            queue = _Queue(
                request, subscriber, Retries(self.backoff, self.rng), FailureLog(name, log)
            )
            self._queues[sub.key] = queue
        return queue

    async def _forget_removed(self, live: set[str]) -> None:
        for key in [k for k in self._queues if k not in live]:
            await self._queues.pop(key).subscriber.close()

    async def _cursor_value(self, key: str) -> int:
        try:
            return int((await subscriptions.cursor(self.store, key)).value["cursor"])
        except NotFound:
            return 0

    async def _deliver(self, sub: Record, notes: list[Record]) -> int:
        """Send ``sub`` what it takes after its cursor, in order, until one fails; the
        cursor it is left at."""
        queue = self._queue(sub)
        try:
            state = await subscriptions.cursor(self.store, sub.key)
        except NotFound:
            return 0  # removed meanwhile
        settled = start = int(state.value["cursor"])
        try:
            for record in notes:
                if record.created_revision <= start or self._stopping:
                    continue
                note = outbox.Notification.from_record(record)
                if subscriptions.takes(sub, note, record.created_revision, queue.request):
                    if not await self._send(sub, queue, note):
                        break
                    state = await subscriptions.advance(self.store, state, record.created_revision)
                settled = record.created_revision
            if settled > int(state.value["cursor"]):  # only notifications it does not take
                await subscriptions.advance(self.store, state, settled)
        except (NotFound, StaleRevision):
            return settled  # the subscription was removed while it was being served
        return settled

    async def _send(self, sub: Record, queue: _Queue, note: outbox.Notification) -> bool:
        """POST one notification; True when it is settled (acknowledged or given up)."""
        try:
            await queue.subscriber.notify(body_for(sub, note, self.base_url))
        except TemporaryError as exc:
            self._failed(queue, exc)
            return False
        except AtollError as exc:  # a 4xx: the subscriber refuses this notification
            queue.refusals += 1
            if queue.refusals < self.settings.lcm_callback_attempts:
                self._failed(queue, exc)
                return False
            self.metrics.given_up.inc()
            log.warning(
                "subscription %s refused notification %s %d times (%s): given up",
                sub.key,
                note.id,
                queue.refusals,
                exc.message,
            )
        else:
            self.metrics.delivered.inc()
        queue.health.succeeded()
        queue.retries.reset()
        queue.refusals, queue.due = 0, 0.0
        return True

    def _failed(self, queue: _Queue, exc: AtollError) -> None:
        self.metrics.failures.inc()
        queue.health.failed(exc)
        queue.due = self.clock() + queue.retries.next_delay()

    async def _collect(self, notes: list[Record], settled: int) -> int:
        """Remove notifications settled for every subscription, and those past retention;
        how many are left."""
        oldest = self.clock() - self.settings.lcm_notification_retention
        gone = [r for r in notes if r.created_revision <= settled or _recorded_before(r, oldest)]
        for start in range(0, len(gone), GC_BATCH):
            batch = gone[start : start + GC_BATCH]
            try:
                await self.store.commit([Delete(outbox.KIND, r.key, r.revision) for r in batch])
            except (NotFound, StaleRevision):
                continue  # removed or rewritten meanwhile: the next pass looks again
        self.metrics.pending.set(len(notes) - len(gone))
        return len(notes) - len(gone)


def _recorded_before(record: Record, oldest: float) -> bool:
    try:
        stamp = datetime.fromisoformat(str(record.value["timeStamp"])).timestamp()
    except (KeyError, ValueError):
        return False
    return stamp < oldest
