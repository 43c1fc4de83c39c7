"""Reconnect backoff: full jitter under a growing, capped window, and a hub restart's
reconnects spread so that no 1 s holds more than 5% of them (must-pass test 2)."""

from __future__ import annotations

import bisect
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atoll.sync.backoff import Backoff, Retries

SITES = 10_000


def reconnect_times(backoff: Backoff, outage: float, seed: int) -> list[float]:
    """Every site loses its session at 0 (the hub restarts) and retries until the hub is
    back at ``outage``: each site's reconnect time is its first attempt at or after that."""
    rng = random.Random(seed)
    times = []
    for _ in range(SITES):
        retries, t = Retries(backoff, rng), 0.0
        while t < outage or t == 0.0:
            t += retries.next_delay()
        times.append(t)
    return sorted(times)


def busiest_second(times: list[float]) -> int:
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


@settings(max_examples=25, deadline=None)
@given(outage=st.floats(0.0, 600.0), seed=st.integers(0, 2**32))
def test_no_second_holds_over_5_percent_of_a_hub_restarts_reconnects(
    outage: float, seed: int
) -> None:
    times = reconnect_times(Backoff(), outage, seed)
    assert busiest_second(times) <= SITES * 0.05


def test_a_fixed_or_narrow_delay_would_fail_that_property() -> None:
    # the property has teeth: KubeEdge-style short delays pile the reconnects up
    times = reconnect_times(Backoff(first=1.0, cap=60.0), 3.0, 1)
    assert busiest_second(times) > SITES * 0.05


@given(
    first=st.floats(0.01, 100.0),
    factor=st.floats(1.0, 4.0),
    extra=st.floats(0.0, 1000.0),
    attempt=st.integers(0, 10_000),
    seed=st.integers(0, 2**32),
)
def test_delays_are_full_jitter_under_a_growing_capped_window(
    first: float, factor: float, extra: float, attempt: int, seed: int
) -> None:
    backoff = Backoff(first=first, factor=factor, cap=first + extra)
    window = backoff.window(attempt)
    assert first <= window <= backoff.cap or window == pytest.approx(first)
    assert backoff.window(attempt + 1) >= window
    assert 0.0 <= backoff.delay(attempt, random.Random(seed)) <= window


def test_retries_count_up_and_reset_once_connected() -> None:
    retries = Retries(Backoff(first=1.0, cap=8.0), random.Random(3))
    windows = []
    for _ in range(6):
        windows.append(retries.backoff.window(retries.attempt))
        assert 0.0 <= retries.next_delay() <= windows[-1]
    assert windows == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    retries.reset()
    assert retries.attempt == 0


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(first=0.0)
    with pytest.raises(ValueError):
        Backoff(first=10.0, cap=5.0)
    with pytest.raises(ValueError):
        Backoff(factor=0.5)
