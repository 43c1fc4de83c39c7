"""Site-scope alarm rules, evaluated here on the site's own telemetry, hub or no hub.

The hub places a site-scope alarm at its site as a reference of kind ``alarm`` (its
:class:`~atoll.resources.alarm.ThresholdRule` as the spec; sync brings it down like any
intent and a snapshot's sweep takes it away). Every ``interval`` seconds
:meth:`SiteAlarms.evaluate_blocking` evaluates each one (:mod:`atoll.alarm_evaluation`) over
the ring's points of its metric (raw samples, then minute averages): a series has data while
its newest sample is at most ``freshness`` seconds old.

A state that changed is written, in one transaction, to the ``meta`` table (key
``alarm_state:<id>``: the state, the reason, since when) and to the outbox as a
site-authored operation record ``{"op": "action", "action": "alarm_state", "kind":
"alarm", "id", "state", "previous", "reason", "at", "actor": "alarm-evaluator", ...}``
that holds nothing: sync carries it to the hub when the link is up (at-least-once; the hub
keeps it once per seq), where it becomes the alarm's history and, if newest, its state.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from atoll.alarm_evaluation import Point, Verdict, describe, evaluate_threshold, labels_match, rates
from atoll.background import Loop, LoopSettings
from atoll.errors import InvalidInput
from atoll.resources.alarm import ThresholdRule
from atoll.site_agent.operations import operation_body
from atoll.site_agent.ring import Ring
from atoll.site_agent.store import DesiredObject, LocalStore
from atoll.site_agent.store.queues import add_fact

log = logging.getLogger(__name__)
KIND = "alarm"
META = "alarm_state:"
ACTOR = "alarm-evaluator"


class SiteAlarms:
    def __init__(
        self,
        store: LocalStore,
        ring: Ring,
        interval: float = 30.0,
        freshness: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.ring = ring
        self.freshness = freshness
        self.clock = clock
        self.changes = 0  # state changes recorded since start
        self._loop = Loop(
            "site alarm evaluation", self.run_pass, LoopSettings(interval=interval), logger=log
        )

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_pass(self) -> None:
        self.changes += await self.store.call(self.evaluate_blocking)

    def evaluate_blocking(self) -> int:
        """Evaluate every site-scope rule here once; how many changed state."""
        now = self.clock()
        changed = 0
        rules = self.store.list_objects(KIND, include_deleting=False)
        known = self.ring.series_blocking() if rules else []
        with self.store.tx() as c:  # rules the hub took away leave no state behind
            kept = [META + obj.id for obj in rules]
            marks = ", ".join("?" for _ in kept) or "''"
            c.execute(f"DELETE FROM meta WHERE key LIKE ? AND key NOT IN ({marks})",  # noqa: S608
                      [META + "%", *kept])  # fmt: skip
        for obj in rules:
            try:
                rule = ThresholdRule.from_wire(obj.spec, where=f"alarm {obj.id}")
            except InvalidInput as exc:
                verdict = Verdict("insufficient_data", f"the rule is not valid here: {exc.message}")
            else:
                verdict = self._verdict(rule, known, now)
            changed += self._record_blocking(obj, verdict, now)
        return changed

    def _verdict(
        self, rule: ThresholdRule, known: list[tuple[str, dict[str, str]]], now: float
    ) -> Verdict:
        since = now - rule.period - self.freshness - 60.0
        series: dict[str, list[Point]] = {}
        for metric, labels in known:
            if metric != rule.metric or not labels_match(labels, rule.labels):
                continue
            points = [(p.ts, p.value) for p in self.ring.query_blocking(metric, labels, since, now)]
            series[describe(metric, labels)] = rates(points) if rule.statistic == "rate" else points
        return evaluate_threshold(rule, series, now, self.freshness)

    def state_blocking(self, alarm_id: str) -> dict[str, object] | None:
        raw = self.store.get_meta(META + alarm_id)
        return None if raw is None else dict(json.loads(raw))

    def _record_blocking(self, obj: DesiredObject, verdict: Verdict, now: float) -> bool:
        current = self.state_blocking(obj.id)
        previous = str(current["state"]) if current else "insufficient_data"
        if previous == verdict.state:
            return False
        body = operation_body(
            "action", KIND, obj.id, obj.hub_revision, None, at=now, actor=ACTOR,
            action="alarm_state",
        )  # fmt: skip
        body.update(state=verdict.state, previous=previous, reason=verdict.reason)
        state = {"state": verdict.state, "reason": verdict.reason, "since": now}
        with self.store.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                (META + obj.id, json.dumps(state)),
            )
            add_fact(c, "operation", body, kind=KIND, obj_id=obj.id, now=now)
        log.info("alarm %s (%s): %s -> %s: %s", obj.name or obj.id, obj.id, previous,
                 verdict.state, verdict.reason)  # fmt: skip
        return True
