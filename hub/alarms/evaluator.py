"""The hub's alarm loop: evaluate hub-scope rules, then announce state changes by webhook.

Every ``[hub] alarm_interval`` seconds (one :class:`~atoll.background.Loop`):

1. each enabled alarm with scope ``hub`` is evaluated (:mod:`atoll.alarm_evaluation`): a
   threshold rule over the fleet telemetry keeper's minute points of its metric (at its
   site, or every site when it names none), a site-state rule over the site registry;
   a changed state is written with a history entry (:func:`.records.change_state`);
2. every alarm with more state ``changes`` than it has ``notified`` (hub-scope changes
   from step 1, site-scope changes that came up with sync) is claimed by writing
   ``notified`` (compare-and-set: one hub process wins), then queued for its webhooks,
   unless it is silenced (``silenced_until`` in the future). The webhooks are called by
   :class:`.webhooks.Webhooks`, each on its own: the pass does not wait for them, and no
   alarm's webhook waits for another's.

The same loop prunes the telemetry keeper to its retention.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp.abc import AbstractResolver

from atoll.alarm_evaluation import (
    Point,
    Verdict,
    describe,
    evaluate_site_state,
    evaluate_threshold,
    rates,
)
from atoll.background import Loop, LoopSettings
from atoll.errors import NotFound, StaleRevision
from atoll.hub.alarms import records, webhooks
from atoll.hub.settings import HubSettings
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import Record, Store
from atoll.hub.store.query import list_all
from atoll.hub.telemetry.keeper import TelemetryKeeper
from atoll.jsonbody import JSON
from atoll.resources.alarm import SiteStateRule, ThresholdRule
from atoll.timestamps import epoch_of

log = logging.getLogger(__name__)
COLUMN = {"avg": 1, "rate": 1, "min": 2, "max": 3}  # of a keeper point (ts, avg, min, max)
STEP = 60.0  # the sites' rollups are minute points


class AlarmEvaluator:
    def __init__(
        self,
        settings: HubSettings,
        store: Store,
        telemetry: TelemetryKeeper,
        clock: Callable[[], float],
        check_url: webhooks.Check,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.telemetry = telemetry
        self.clock = clock
        # check_url: may the hub call this webhook (the app hands in its one address rule)
        self.webhooks = webhooks.Webhooks(settings, check_url, resolver=resolver)
        self.loop = Loop(
            "alarm evaluation",
            self.run_pass,
            LoopSettings(interval=settings.alarm_interval, initial_delay=settings.alarm_interval),
            logger=log,
        )

    async def start(self) -> None:
        self.webhooks.start()
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()
        await self.webhooks.stop()

    async def run_pass(self) -> None:
        await self.evaluate()
        await self.announce()
        await self.telemetry.prune()

    async def evaluate(self) -> int:
        """Evaluate every enabled hub-scope alarm once; how many changed state."""
        now = self.clock()
        sites = [r.value for r in await list_all(self.store, SITE_KIND, {})]
        changed = 0
        for record in await list_all(self.store, records.KIND, {"scope": "hub"}):
            if not record.value.get("enabled", True):
                continue
            verdict = await self.verdict(record.value, sites, now)
            changed += await records.change_state(self.store, record, verdict, now) is not None
        return changed

    async def verdict(self, alarm: JSON, sites: list[JSON], now: float) -> Verdict:
        if alarm["type"] == "site_state":
            rule = SiteStateRule.from_wire(alarm["rule"])
            watched = [s for s in sites if alarm.get("site_id") in (None, s.get("id"))]
            if not watched:
                return Verdict("insufficient_data", "no such site in the registry")
            verdicts = [evaluate_site_state(rule, s, epoch_of(s.get("last_seen")), now)
                        for s in watched]  # fmt: skip
            return next((v for v in verdicts if v.state == "alarm"), verdicts[0])
        threshold = ThresholdRule.from_wire(alarm["rule"])
        names = {s.get("id"): str(s.get("name")) for s in sites}
        site_ids = [alarm["site_id"]] if alarm.get("site_id") else None
        since = now - threshold.period - self.settings.alarm_freshness - STEP
        found = await self.telemetry.query(
            threshold.metric, since, now, STEP, site_ids, threshold.labels
        )
        column = COLUMN[threshold.statistic]
        series: dict[str, list[Point]] = {}
        for s in found:
            points = [(p[0], p[column]) for p in s.points]
            name = f"{names.get(s.site_id, s.site_id)}/{describe(s.metric, s.labels)}"
            series[name] = rates(points) if threshold.statistic == "rate" else points
        # a minute point stands for its whole minute: it is as fresh as the minute's end
        fresh = self.settings.alarm_freshness + STEP
        return evaluate_threshold(threshold, series, now, fresh)

    async def announce(self) -> int:
        """Queue every state change not announced yet for its webhooks; how many."""
        now = self.clock()
        sent = 0
        for record in await list_all(self.store, records.KIND, {}):
            value = record.value
            if value.get("notified", 0) >= value.get("changes", 0):
                continue
            previous = value.get("notified_state")
            claimed = {**value, "notified": value.get("changes", 0),
                       "notified_state": value["state"]}  # fmt: skip
            if not await self._claim(record, claimed):
                continue
            silenced = epoch_of(value.get("silenced_until"))
            if silenced is not None and silenced > now:
                continue
            if value.get("webhooks"):
                self.webhooks.submit(claimed, previous)
                sent += 1
        return sent

    async def _claim(self, record: Record, value: JSON) -> bool:
        try:
            await self.store.put(records.KIND, record.key, value, expect_revision=record.revision)
        except (StaleRevision, NotFound):
            return False  # changed meanwhile (the next pass sees it), or another hub has it
        return True
