"""Alarm rule evaluation (:mod:`atoll.alarm_evaluation`): the same at the hub and at a site."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll.alarm_evaluation import evaluate_site_state, evaluate_threshold, rates
from atoll.errors import InvalidInput
from atoll.resources.alarm import SiteStateRule, ThresholdRule

NOW = 1_900_000_000.0
CPU = ThresholdRule(metric="server_cpu_utilization_ratio", threshold=0.9, period=600)


def minutes(*values: float) -> list[tuple[float, float]]:
    """One point a minute, the last one now."""
    return [(NOW - 60 * (len(values) - 1 - i), v) for i, v in enumerate(values)]


def test_a_breach_that_lasts_the_period_alarms_and_names_the_series() -> None:
    verdict = evaluate_threshold(CPU, {"vm-a": minutes(*[0.95] * 11)}, NOW, 120)
    assert verdict.state == "alarm"
    assert "vm-a" in verdict.reason and "0.95" in verdict.reason and "600 s" in verdict.reason


def test_a_shorter_breach_is_ok_and_says_how_long() -> None:
    verdict = evaluate_threshold(CPU, {"vm-a": minutes(0.1, *[0.95] * 5)}, NOW, 120)
    assert verdict.state == "ok" and "for 240 s only" in verdict.reason


def test_one_point_below_breaks_the_run() -> None:
    values = [0.95] * 5 + [0.5] + [0.95] * 5
    assert evaluate_threshold(CPU, {"vm-a": minutes(*values)}, NOW, 120).state == "ok"


def test_no_fresh_points_is_insufficient_data() -> None:
    stale = [(NOW - 1000, 0.99)]
    assert evaluate_threshold(CPU, {"vm-a": stale}, NOW, 120).state == "insufficient_data"
    assert evaluate_threshold(CPU, {}, NOW, 120).state == "insufficient_data"


def test_any_series_in_alarm_makes_the_rule_alarm() -> None:
    series = {"vm-a": minutes(*[0.1] * 11), "vm-b": minutes(*[0.99] * 11)}
    verdict = evaluate_threshold(CPU, series, NOW, 120)
    assert verdict.state == "alarm" and "vm-b" in verdict.reason


def test_rates_of_a_counter_skip_resets() -> None:
    assert rates([(0, 0), (10, 50), (20, 10), (30, 30)]) == [(10, 5.0), (30, 2.0)]


def test_site_offline_for_the_period_alarms() -> None:
    rule = SiteStateRule(period=300)
    site = {"name": "edge-1", "state": "offline"}
    assert evaluate_site_state(rule, site, NOW - 301, NOW).state == "alarm"
    assert evaluate_site_state(rule, site, NOW - 100, NOW).state == "ok"
    online = {"name": "edge-1", "state": "online"}
    assert evaluate_site_state(rule, online, NOW - 1000, NOW).state == "ok"
    assert evaluate_site_state(rule, None, None, NOW).state == "insufficient_data"


def test_a_rule_with_a_bad_field_names_it() -> None:
    with pytest.raises(InvalidInput) as caught:
        ThresholdRule.from_wire(
            {"metric": "Bad Name", "threshold": "x", "comparison": "eq"}, where="rule", strict=True
        )
    where = {p.where for p in caught.value.problems}
    assert {"rule.metric", "rule.threshold", "rule.comparison"} <= where


@given(
    values=st.lists(st.floats(0, 2), min_size=1, max_size=30),
    threshold=st.floats(0, 2),
    period=st.integers(0, 30).map(lambda n: n * 60.0),
)
def test_alarm_exactly_when_the_newest_run_of_breaches_spans_the_period(
    values: list[float], threshold: float, period: float
) -> None:
    rule = ThresholdRule(metric="m", threshold=threshold, period=period, comparison="gt")
    verdict = evaluate_threshold(rule, {"s": minutes(*values)}, NOW, 120)
    run = 0
    for value in reversed(values):
        if value <= threshold:
            break
        run += 1
    spans = run > 0 and (run - 1) * 60.0 >= period
    assert verdict.state == ("alarm" if spans else "ok")
