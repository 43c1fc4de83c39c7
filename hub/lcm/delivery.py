"""Delivering LCM notifications: the outbox (:mod:`.outbox`) to every subscriber, in order,
once, each subscriber on its own.

One :class:`~atoll.background.Loop` (``lcm_delivery_interval`` seconds apart, sooner when a
subscriber's retry is due, and whenever a delivery ends) reads the ``lcm_notification``
records in the order they were written and works out, for each subscription, those it
takes (:func:`.subscriptions.takes`) after its cursor. It does not send them itself: it
hands each subscription with something to send a *turn* in a bounded pool of deliveries
(:class:`~atoll.background.Workers`), and a turn POSTs that subscription's notifications
one at a time, building the SOL003 body for it (its id is a pure function of subscription
and event, so a subscriber can drop a duplicate).

* **Each subscriber on its own.** No subscriber waits for another: at most one turn per
  subscription (its order), at most ``lcm_delivery_concurrency`` at once, and at most
  ``lcm_delivery_project_share`` of them one project's, so one tenant's subscribers cannot
  take the pool from the others. A turn ends after :data:`TURN_SENDS` notifications (the
  subscription waiting longest goes next), and after an answer that took
  ``lcm_callback_slow`` seconds or more: such a subscriber is degraded and backed off as a
  failing one is (it still got that notification), so a callback answering just under the
  timeout delays only its own notifications. A turn's connections close when it ends.
* **Once, across restarts.** Right after a subscriber's 2xx the subscription's cursor moves
  past that notification in the store (``lcm_delivery``); nothing else moves it except
  notifications the subscription does not take. A hub that stops (or dies) re-sends only
  what was not acknowledged: a notification is sent twice only if the hub died between the
  2xx and that write, and then with the same id. ``stop()`` lets the notifications being
  sent finish and starts no other.
* **In order, and what a subscriber missed.** A subscriber that fails (unreachable, 5xx,
  429, a redirect) holds its queue: it is tried again after a backoff with full jitter
  (:class:`atoll.sync.backoff.Backoff`, from 1 s doubling up to
  ``lcm_callback_max_backoff``) and, when it answers again, gets everything after its
  cursor in order. A 4xx is the subscriber refusing that notification: after
  ``lcm_callback_attempts`` tries it is given up (counted and logged) and the queue moves
  on. Failures (slowness included) are logged once per subscriber when they start and once
  when it recovers.
* **Bounded.** A notification is removed once every subscription's cursor is past it, or
  when it is older than ``lcm_notification_retention`` seconds, delivered or not. The hub
  keeps a small record per subscription and opens connections only for turns running.
  With several hub replicas on one store each would deliver (duplicates, with the same
  ids): run delivery on one.

Metrics (on the hub's ``/metrics``): ``atoll_hub_lcm_notifications_delivered_total``,
``atoll_hub_lcm_notification_failures_total`` (failed attempts),
``atoll_hub_lcm_callbacks_slow_total`` (answers that backed their subscriber off),
``atoll_hub_lcm_notifications_given_up_total`` and ``atoll_hub_lcm_notifications_pending``.
"""

from __future__ import annotations

import bisect
import functools
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from atoll.background import FailureLog, Loop, LoopSettings, WorkerLimits, Workers
from atoll.errors import AtollError, NotFound, StaleRevision, TemporaryError, TooSlow
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
TURN_SENDS = 50  # notifications one turn sends at most before the subscription waits its turn
STOP_GRACE = 60.0  # seconds stop() lets the notifications being sent finish


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


Pending = list[tuple[int, outbox.Notification]]  # (store revision it was recorded at, it)


@dataclass
class _Queue:
    """One subscription's delivery, in memory (its cursor is in the store)."""

    request: LccnSubscriptionRequest
    subscriber: Subscriber
    retries: Retries
    health: FailureLog
    # when it may have its next turn (clock seconds): after a backoff, or when its last
    # turn ended (the one waiting longest goes first)
    due: float = 0.0
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
        self.slow = Counter(
            "atoll_hub_lcm_callbacks_slow",
            "LCM notifications a subscriber acknowledged in lcm_callback_slow seconds or more "
            "(it was backed off)",
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
            LoopSettings(interval=settings.lcm_delivery_interval),
            logger=log,
        )
        limits = WorkerLimits(
            settings.lcm_delivery_concurrency, settings.lcm_delivery_project_share
        )
        self.workers = Workers(
            "delivering LCM notifications", limits, done=self._turn_ended, logger=log
        )
        self._crowded = False  # the last pass left a subscription waiting for room
        self._again = False  # a turn ended with more to send
        self._queues: dict[str, _Queue] = {}
        self._decoded: dict[str, tuple[int, outbox.Notification]] = {}  # by record key
        self._stopping = False
        self._quiet_at = -1  # the store revision after a pass that left nothing to do

    def start(self) -> None:
        self._stopping = False
        self.loop.start()

    async def stop(self) -> None:
        """Finish the notifications being sent, send no other, close the connections."""
        self._stopping = True
        await self.loop.stop()
        await self.workers.stop(STOP_GRACE)
        for queue in self._queues.values():
            await queue.subscriber.close()
        self._queues.clear()

    # -- one pass: who has something to send -----------------------------------------------

    async def run_pass(self) -> float | None:
        """Start a turn for each subscription with something to send (as the pool has room);
        the seconds until the next subscriber retry is due."""
        top = await self.store.revision()  # before listing: see _collect
        if top == self._quiet_at:
            return None  # nothing was written since a pass left nothing to do
        subs = await subscriptions.listed(self.store, None)
        # a subscription being served now is left to its turn, even one ending while this
        # pass reads: its cursor may move after it was read (only passes start turns)
        idle = {s.key for s in subs if not self.workers.busy(s.key)}
        states = {r.key: r for r in await list_all(self.store, subscriptions.DELIVERY_KIND, {})}
        await self._forget_removed({s.key for s in subs})
        records = sorted(
            await list_all(self.store, outbox.KIND, {}), key=lambda r: r.created_revision
        )
        notes = self._decode(records)
        newest = notes[-1][0] if notes else 0
        now = self.clock()
        ready: list[tuple[float, Record, Record, Pending]] = []
        waits: list[float] = []
        for sub in subs:
            state = states.get(sub.key)
            if state is None or sub.key not in idle or self._stopping:
                continue  # removed meanwhile, or being served (its turn moves the cursor)
            queue = self._queue(sub)
            todo = self._todo(sub, queue, notes, int(state.value["cursor"]))
            if not todo:  # only notifications it does not take: settled for it
                states[sub.key] = await self._skip(state, newest)
            elif queue.due > now:
                waits.append(queue.due - now)
            else:
                ready.append((queue.due, sub, state, todo))
        ready.sort(key=lambda r: r[0])  # the longest waiting first
        self._crowded = False
        for _, sub, state, todo in ready:
            turn = functools.partial(self._turn, sub, state, todo, newest)
            if not self.workers.start(sub.key, sub.value["project_id"], turn):
                self._crowded = True
        cursors = [int(s.value["cursor"]) for s in states.values()]
        pending = await self._collect(records, min([top, *cursors]))
        if not pending and not waits and not self.workers.running:
            # nothing left: skip passes until anything is written after ``top`` (a pass that
            # wrote cursors or removals runs once more, and finds nothing to write)
            self._quiet_at = top
        return max(0.0, min(waits)) if waits else None

    def _turn_ended(self) -> None:
        if self._crowded or self._again:
            self._again = False
            self.loop.kick()  # hand the slot on now (else the next pass comes on time)

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

    def _decode(self, records: list[Record]) -> Pending:
        """The notifications of ``records`` (in their order), decoded once each."""
        known, self._decoded = self._decoded, {}
        for record in records:
            seen = known.get(record.key)
            if seen is None or seen[0] != record.created_revision:
                seen = (record.created_revision, outbox.Notification.from_record(record))
            self._decoded[record.key] = seen
        return list(self._decoded.values())

    @staticmethod
    def _todo(sub: Record, queue: _Queue, notes: Pending, cursor: int) -> Pending:
        """What ``sub`` takes after its cursor, in order (``notes`` are in their order)."""
        after = bisect.bisect_right(notes, cursor, key=lambda n: n[0])
        return [
            (revision, note)
            for revision, note in notes[after:]
            if subscriptions.takes(sub, note, revision, queue.request)
        ]

    async def _skip(self, state: Record, newest: int) -> Record:
        """Move a cursor past notifications its subscription does not take."""
        if newest <= int(state.value["cursor"]):
            return state
        try:
            return await subscriptions.advance(self.store, state, newest)
        except (NotFound, StaleRevision):
            return state  # removed meanwhile; the next pass looks again

    async def _forget_removed(self, live: set[str]) -> None:
        gone = [k for k in self._queues if k not in live and not self.workers.busy(k)]
        for key in gone:
            await self._queues.pop(key).subscriber.close()

    # -- one turn: a subscription's notifications, in order ------------------------------

    async def _turn(self, sub: Record, state: Record, todo: Pending, newest: int) -> None:
        """Send ``todo`` in order until one fails, an answer is slow, or the turn's share is
        sent; move the cursor after each one settled (to ``newest`` once all are)."""
        queue = self._queue(sub)
        more = False  # its share is sent and more is waiting: it comes back soon
        try:
            for sent, (revision, note) in enumerate(todo):
                if self._stopping:
                    return
                if sent == TURN_SENDS:
                    more = self._again = True
                    return
                if not await self._send(sub, queue, note):
                    return
                state = await subscriptions.advance(self.store, state, revision)
                if queue.due > self.clock():
                    return  # slow: backed off, the rest waits
            if newest > int(state.value["cursor"]):  # only notifications it does not take
                await subscriptions.advance(self.store, state, newest)
        except (NotFound, StaleRevision):
            return  # the subscription was removed while it was being served
        finally:
            queue.due = max(queue.due, self.clock())  # the back of the line
            if not more:
                await queue.subscriber.close()  # its next turn connects again

    async def _send(self, sub: Record, queue: _Queue, note: outbox.Notification) -> bool:
        """POST one notification; True when it is settled (acknowledged or given up)."""
        began = self.clock()
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
        queue.refusals = 0
        took = self.clock() - began
        if took >= self.settings.lcm_callback_slow:
            self.metrics.slow.inc()
            self._backoff(queue, TooSlow("the subscriber", took, self.settings.lcm_callback_slow))
            return True
        queue.health.succeeded()
        queue.retries.reset()
        queue.due = 0.0
        return True

    def _failed(self, queue: _Queue, exc: AtollError) -> None:
        self.metrics.failures.inc()
        self._backoff(queue, exc)

    def _backoff(self, queue: _Queue, exc: AtollError) -> None:
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
