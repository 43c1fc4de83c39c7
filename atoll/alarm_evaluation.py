"""How an alarm rule turns the points it watches into a state: ok, alarm, insufficient_data.

Pure functions, the same at the hub (fleet telemetry, the site registry) and at a site (its
own ring, while cut off from the hub or not):

- :func:`evaluate_threshold`: each series whose labels include the rule's is a list of
  ``(ts, value)`` points, oldest first (the statistic already chosen: a minute's avg, min or
  max; ``rate`` is made here from a counter's values by :func:`rates`). A series *has data*
  when its newest point is at most ``freshness`` seconds old. It *breaches* when its newest
  point compares true with the threshold, and has breached **for** the time from the first
  point of that unbroken run of breaching points to its newest point. The rule is ``alarm``
  when some series has breached for at least ``period`` (the reason names the first such
  series and its newest value), else ``ok`` when some series has data (a breach shorter
  than the period is named in the reason), else ``insufficient_data``.
- :func:`evaluate_site_state`: ``alarm`` when the site has been offline (not heard since
  ``last_seen``) for at least ``period``; ``ok`` otherwise; ``insufficient_data`` for a site
  the registry does not have.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from atoll.resources.alarm import SiteStateRule, ThresholdRule

State = Literal["ok", "alarm", "insufficient_data"]
STATES: tuple[State, ...] = ("ok", "alarm", "insufficient_data")
Point = tuple[float, float]

COMPARE: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "gt": (operator.gt, "above"),
    "ge": (operator.ge, "at or above"),
    "lt": (operator.lt, "below"),
    "le": (operator.le, "at or below"),
}


@dataclass(frozen=True)
class Verdict:
    state: State
    reason: str


def labels_match(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def describe(metric: str, labels: Mapping[str, str]) -> str:
    if not labels:
        return metric
    return metric + json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


def rates(points: Sequence[Point]) -> list[Point]:
    """A counter's per-second increase between neighbouring points (a reset is skipped)."""
    out: list[Point] = []
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if t1 > t0 and v1 >= v0:
            out.append((t1, (v1 - v0) / (t1 - t0)))
    return out


def _breach_for(points: Sequence[Point], breaches: Callable[[float], bool]) -> float | None:
    """How long the newest unbroken run of breaching points lasts (None: the newest does
    not breach)."""
    if not points or not breaches(points[-1][1]):
        return None
    start = points[-1][0]
    for ts, value in reversed(points):
        if not breaches(value):
            break
        start = ts
    return points[-1][0] - start


def evaluate_threshold(
    rule: ThresholdRule,
    series: Mapping[str, Sequence[Point]],
    now: float,
    freshness: float,
) -> Verdict:
    """The rule's state over ``series`` (a description of each series -> its points, oldest
    first, the statistic applied); see the module docstring."""
    compare, words = COMPARE[rule.comparison]

    def breaches(value: float) -> bool:
        return compare(value, rule.threshold)

    with_data = 0
    pending: tuple[str, float] | None = None
    for name in sorted(series):
        points = [p for p in series[name] if p[0] <= now]
        if not points or now - points[-1][0] > freshness:
            continue
        with_data += 1
        lasted = _breach_for(points, breaches)
        if lasted is None:
            continue
        newest = points[-1][1]
        if lasted >= rule.period:
            return Verdict(
                "alarm",
                f"{name} is {newest:g}, {words} {rule.threshold:g} for {lasted:g} s "
                f"(period {rule.period:g} s)",
            )
        if pending is None:
            pending = (name, lasted)
    if not with_data:
        return Verdict("insufficient_data", f"no {rule.metric} points in the last {freshness:g} s")
    if pending is not None:
        name, lasted = pending
        return Verdict(
            "ok",
            f"{name} {words} {rule.threshold:g} for {lasted:g} s only (period {rule.period:g} s)",
        )
    return Verdict("ok", f"{with_data} series of {rule.metric}, none {words} {rule.threshold:g}")


def evaluate_site_state(
    rule: SiteStateRule, site: Mapping[str, object] | None, last_seen: float | None, now: float
) -> Verdict:
    """The rule's state for ``site`` (its registry record; None: no such site), last heard at
    ``last_seen`` (epoch seconds; None: never)."""
    if site is None:
        return Verdict("insufficient_data", "the site is not in the registry")
    name = site.get("name")
    if site.get("state") != rule.state:
        return Verdict("ok", f"site {name} is {site.get('state')}")
    if last_seen is None:
        return Verdict("alarm", f"site {name} is {rule.state} and was never heard")
    lasted = max(0.0, now - last_seen)
    if lasted >= rule.period:
        return Verdict(
            "alarm", f"site {name} is {rule.state}, not heard for {lasted:.0f} s "
            f"(period {rule.period:g} s)",
        )  # fmt: skip
    return Verdict(
        "ok", f"site {name} is {rule.state} for {lasted:.0f} s only (period {rule.period:g} s)"
    )
