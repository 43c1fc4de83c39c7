"""How every benchmark reports: one JSON line per figure, medians of several runs.

``{"bench": NAME, "value": X, "unit": U, "baseline": B, "ratio": R}`` where the baseline is
the physical limit or the plain alternative, measured in the same run on the same machine,
and ``ratio = value / baseline``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def median_of(runs: int, measure: Callable[[], float]) -> float:
    """Run ``measure`` ``runs`` times and return the median (the machine is shared and noisy)."""
    return statistics.median(measure() for _ in range(runs))


def paired_medians(runs: int, *measures: Callable[[], float]) -> list[float]:
    """The median of each of ``measures``, run in turn ``runs`` times (interleaved, so the
    noise of a shared machine falls on a figure and its baseline alike)."""
    rounds = [[measure() for measure in measures] for _ in range(runs)]
    return [statistics.median(r[i] for r in rounds) for i in range(len(measures))]


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rate(count: int, work: Callable[[], object]) -> float:
    """``count`` operations done by ``work()``, per second."""
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def emit(bench: str, value: float, unit: str, baseline: float) -> None:
    ratio = value / baseline if baseline else float("nan")
    line = {
        "bench": bench,
        "value": round(value, 4),
        "unit": unit,
        "baseline": round(baseline, 4),
        "ratio": round(ratio, 4),
    }
    print(json.dumps(line), flush=True)
