"""Reconnect delays: exponential backoff with full jitter and a cap (sans-IO).

Retry ``k`` (0 for the first after a session is lost or an attempt fails) waits a delay
drawn uniformly from ``[0, min(cap, first * factor**k))`` ("full jitter"). The first window
is wide on purpose: when a hub restarts, every site loses its session at the same instant,
and the reconnects must spread out so that no 1 s holds more than 5% of them (each is a
1.6 ms mTLS handshake: ~16 s of one core for 10,000 sites). The busiest second holds about
``1/first`` of the sites that reconnect at their first retry plus those retrying after
trying too early, whatever the outage lasts: the defaults (40 s, doubling, 120 s cap) keep
it near 4% (``tests/sync/test_backoff.py``); a first window of 30 s reaches 5.5% for
outages near 30 s. A single site reconnects after 20 s on average (KubeEdge waits a fixed
30 s, every edge at once). A site that knows the hub is small, or that its own link was the
cause, may choose a smaller ``first``: the hub's welcome says how wide to make it
(``reconnect_spread``: its sessions over the reconnects per second it takes, at least 1 s),
and sites use that as ``first`` once they have been welcomed.

The caller owns the clock and the randomness::

    retries = Retries(Backoff(), random.Random())
    while not connected:
        await asyncio.sleep(retries.next_delay())
        connected = await try_connect()
    retries.reset()  # once a session is open
"""

from __future__ import annotations

import dataclasses
import random

_MAX_EXPONENT = 64  # factor**k beyond this is past any cap


@dataclasses.dataclass(frozen=True)
class Backoff:
    first: float = 40.0  # seconds: the window of retry 0
    factor: float = 2.0
    cap: float = 120.0  # seconds: no window is wider

    def __post_init__(self) -> None:
        if not (0 < self.first <= self.cap and self.factor >= 1):
            raise ValueError("backoff needs 0 < first <= cap and factor >= 1")

    def window(self, attempt: int) -> float:
        """The width of retry ``attempt``'s window, in seconds."""
        return min(self.cap, self.first * self.factor ** min(max(attempt, 0), _MAX_EXPONENT))

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.window(attempt))


class Retries:
    """One connection's retry count over a :class:`Backoff`."""

    def __init__(self, backoff: Backoff, rng: random.Random) -> None:
        self.backoff = backoff
        self.rng = rng
        self.attempt = 0

    def next_delay(self) -> float:
        delay = self.backoff.delay(self.attempt, self.rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
