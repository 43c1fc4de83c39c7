"""Alarm rules: what an alarm watches (Aodh's threshold rules), shared by hub and site.

- :class:`ThresholdRule`: a metric the sites report (``atoll.site_agent.telemetry`` names,
  without the ``atoll_`` prefix: ``server_cpu_utilization_ratio``,
  ``storage_images_usage_ratio``...), the series whose labels include ``labels``, a
  ``statistic`` of its points (``avg``/``min``/``max`` of each minute, or ``rate``: the
  per-second increase of a counter), compared with ``threshold`` by ``comparison``, for
  ``period`` seconds. It is also the spec of kind ``alarm`` a site receives for a rule with
  scope ``site`` (:mod:`atoll.resources.envelope`), which the site evaluates on its own
  telemetry whether or not the hub is reachable.
- :class:`SiteStateRule`: a site ``offline`` (not heard) for ``period`` seconds, evaluated
  at the hub from the site registry.

:mod:`atoll.alarm_evaluation` turns a rule and the points it watches into a state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

from atoll.errors import Problem
from atoll.resources.fields import bounded
from atoll.resources.model import Model, at, no_extra

METRIC = r"[a-z_][a-z0-9_]{0,127}"
METRIC_HINT = "must be a metric name: lowercase letters, digits and '_'"
MAX_PERIOD = 7 * 86400.0
# a series' labels (a rule's, a telemetry point's): how many, and how long a key or value
MAX_SERIES_LABELS = 16
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 256
Comparison = Literal["gt", "ge", "lt", "le"]
Statistic = Literal["avg", "min", "max", "rate"]
SiteState = Literal["offline"]  # since the site was last heard


@dataclasses.dataclass(frozen=True, kw_only=True)
class ThresholdRule(Model):
    WHAT = "threshold rule"
    metric: str = bounded(pattern=METRIC, hint=METRIC_HINT)
    labels: Mapping[str, str] = dataclasses.field(default_factory=no_extra)
    statistic: Statistic = "avg"
    comparison: Comparison = "gt"
    threshold: float = bounded(low=-1e18, high=1e18)
    period: float = bounded(600.0, low=0.0, high=MAX_PERIOD)  # seconds the breach must last

    def problems(self, where: str) -> list[Problem]:
        if len(self.labels) > MAX_SERIES_LABELS:
            return [Problem(at(where, "labels"), f"must have at most {MAX_SERIES_LABELS} labels")]
        for key, value in self.labels.items():
            if not key or len(key) > MAX_LABEL_KEY or len(value) > MAX_LABEL_VALUE:
                return [Problem(at(where, "labels"), f"label {key[:64]!r} is too long or empty")]
        return []


@dataclasses.dataclass(frozen=True, kw_only=True)
class SiteStateRule(Model):
    WHAT = "site state rule"
    state: SiteState = "offline"
    period: float = bounded(300.0, low=0.0, high=MAX_PERIOD)  # seconds in that state
