"""The failed-login throttle: per source and per (source, user), never an account lockout."""

from __future__ import annotations

import pytest

from atoll.errors import TooManyRequests
from atoll.throttle import FailureThrottle, RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_guessing_one_account_is_refused_for_that_source_only() -> None:
    clock = Clock()
    throttle = FailureThrottle(clock, per_source=20, per_source_user=5, window=60)
    for _ in range(5):
        throttle.check("10.0.0.9", "admin")
        throttle.failed("10.0.0.9", "admin")
    with pytest.raises(TooManyRequests) as refused:
        throttle.check("10.0.0.9", "admin")
    assert 1 <= refused.value.retry_after <= 61
    throttle.check("10.0.0.9", "alice")  # other accounts from there: not yet
    throttle.check("10.0.0.9")
    throttle.check("10.0.0.1", "admin")  # the admin elsewhere: never locked out
    clock.now += 61
    throttle.check("10.0.0.9", "admin")  # the window has passed


def test_a_flooding_source_is_refused_for_every_account() -> None:
    clock = Clock()
    throttle = FailureThrottle(clock, per_source=20, per_source_user=5, window=60)
    for n in range(20):
        throttle.failed("10.0.0.9", f"guess-{n}")
        clock.now += 1
    with pytest.raises(TooManyRequests) as refused:
        throttle.check("10.0.0.9", "someone-new")
    assert refused.value.retry_after == 41  # the oldest of the 20 leaves the window at 1060
    with pytest.raises(TooManyRequests):  # the address alone, before any body is read
        throttle.check("10.0.0.9")
    throttle.check("10.0.0.1", "guess-1")
    clock.now += 41
    throttle.check("10.0.0.9", "someone-new")


def test_success_clears_the_account_counter_and_memory_stays_bounded() -> None:
    clock = Clock()
    throttle = FailureThrottle(clock, per_source_user=2, max_tracked=10)
    throttle.failed("10.0.0.9", "admin")
    throttle.succeeded("10.0.0.9", "admin")
    throttle.failed("10.0.0.9", "admin")
    throttle.check("10.0.0.9", "admin")  # one failure since the success
    for n in range(100):
        throttle.failed(f"10.1.0.{n}", "admin")
    assert len(throttle._failures) <= 10


async def test_admit_answers_a_refused_address_after_the_delay_and_others_at_once() -> None:
    clock = Clock()
    throttle = FailureThrottle(clock, per_source=1, refusal_delay=0.01)
    await throttle.admit("10.0.0.9", "admin")
    throttle.failed("10.0.0.9", "admin")
    with pytest.raises(TooManyRequests):
        await throttle.admit("10.0.0.9")
    await throttle.admit("10.0.0.1", "admin")


def test_a_rate_limit_allows_limit_acts_a_window() -> None:
    renewals = RateLimit(limit=3, window=3600, what="certificate renewals")
    now = 1000.0
    times: list[float] = []  # the caller keeps them (the hub: in the site's record)
    for _ in range(3):
        times = renewals.take(times, now, "site edge-1")
        now += 60
    with pytest.raises(TooManyRequests) as refused:
        renewals.take(times, now, "site edge-1")
    assert refused.value.retry_after == 3600 - 180 + 1
    assert "site edge-1 had its 3 certificate renewals" in refused.value.message
    assert renewals.take([], now, "site edge-2") == [now]  # another's times: its own count
    now += 3600 - 180  # the first one left the window, and is not kept
    assert renewals.take(times, now, "site edge-1") == [*times[1:], now]
    skewed = [now + 5, now + 10, now + 20]  # another hub's clock ahead: they count
    with pytest.raises(TooManyRequests):
        renewals.take(skewed, now, "site edge-1")
    assert renewals.take(["x", None, True], now, "site edge-1") == [now]  # not times
    assert RateLimit(limit=0, window=3600, what="x").take(times, now, "s") == []  # no limit
