"""Site-scope alarm rules evaluated at the site (:mod:`atoll.site_agent.alarms`) on its own
ring, and each state change queued once as an operation record for the hub."""

from __future__ import annotations

from pathlib import Path

from atoll import ids
from atoll.site_agent.alarms import SiteAlarms
from atoll.site_agent.ring import Ring
from atoll.site_agent.store import LocalStore

T0 = 28_333_333 * 60.0


async def test_a_rule_fires_once_recovers_once_and_leaves_nothing_when_removed(
    tmp_path: Path,
) -> None:
    now = [T0]
    store = await LocalStore(tmp_path / "agent.db", clock=lambda: now[0]).open()
    try:
        ring = Ring(store)
        alarms = SiteAlarms(store, ring, freshness=30.0, clock=lambda: now[0])
        alarm_id = ids.hub_id()
        rule = {"metric": "storage_images_usage_ratio", "comparison": "gt", "threshold": 0.9,
                "period": 20.0}  # fmt: skip
        await store.call(store.put_reference, "alarm", alarm_id, {"name": None, **rule}, 7)

        async def sample(value: float) -> int:
            await store.call(ring.record_blocking, now[0], [("storage_images_usage_ratio", {},
                                                               value)])  # fmt: skip
            changed: int = await store.call(alarms.evaluate_blocking)
            now[0] += 10
            return changed

        assert [await sample(v) for v in (0.5, 0.95, 0.95, 0.95, 0.97)] == [1, 0, 0, 1, 0]
        assert [await sample(v) for v in (0.2, 0.2)] == [1, 0]
        rows = await store.call(store.outbox_after, 0, 100)
        records = [r.body for r in rows if r.type == "operation"]
        assert [(r["previous"], r["state"]) for r in records] == [
            ("insufficient_data", "ok"), ("ok", "alarm"), ("alarm", "ok")]  # fmt: skip
        fired = records[1]
        assert fired["op"] == "action" and fired["action"] == "alarm_state"
        assert fired["kind"] == "alarm" and fired["id"] == alarm_id
        assert fired["base_hub_revision"] == 7 and "0.95" in fired["reason"]
        assert not await store.call(store.holding, "alarm", alarm_id)  # holds no hub change
        await store.call(store.purge_object, "alarm", alarm_id)
        await store.call(alarms.evaluate_blocking)
        assert await store.call(alarms.state_blocking, alarm_id) is None
    finally:
        await store.close()
