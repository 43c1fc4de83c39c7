"""Slowing down guessing without locking anyone out: failed logins counted per source address;
and bounding how often one caller may do something costly (:class:`RateLimit`).

Two counters, both over a sliding ``window`` (seconds):

- per **source address**: after ``per_source`` failures, that address is refused (HTTP 429
  with ``Retry-After``) for every account, before any password is hashed, so a flood costs
  the daemon almost nothing;
- per **(source, user)**: after ``per_source_user`` failures for one account, that address
  is refused for that account, which keeps one source from guessing one account at speed.

A refused address gets its 429 after ``refusal_delay`` seconds (:meth:`FailureThrottle.admit`):
a script that sends its next guess as soon as it has an answer (most do) is slowed to one
request per delay per connection, which costs the daemon a sleeping coroutine instead of a
busy event loop. Nothing is counted per account alone: the right password from another
address always gets through, whatever anyone else sends (a lockout that anyone can trigger
is a denial of service). A success clears the (source, user) counter only. Both daemons use
this (the hub's ``POST /v1/auth/tokens`` and password change, the site agent's local
credential); it lives in memory, per process, bounded to ``max_tracked`` keys (the oldest go
first).

:class:`RateLimit` bounds acts, not failures, over a sliding window too: at most ``limit``
in any ``window``, beyond it 429 with ``Retry-After``. It keeps nothing itself: the caller
keeps the times of the latest acts where every process that may allow one reads them (the
hub's site certificate renewals: in the site's record in the hub store, so several hubs on
one store allow a site ``limit`` renewals together, not each).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from atoll.errors import TooManyRequests


class _Recent:
    """The times of each key's latest events, at most ``limit`` of them, over a sliding
    ``window``; at most ``max_tracked`` keys (the least recently recorded go first)."""

    def __init__(self, window: float, max_tracked: int) -> None:
        self.window = window
        self._max = max_tracked
        self._times: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def wait(self, key: Hashable, limit: int, now: float) -> float:
        """Seconds until ``key`` is under ``limit`` again (0: it is)."""
        times = self._times.get(key)
        if times is None or len(times) < limit:
            return 0.0
        return times[0] + self.window - now  # the oldest of the last ``limit`` events

    def record(self, key: Hashable, limit: int, now: float) -> None:
        times = self._times.pop(key, None)
        if times is None:
            while len(self._times) >= self._max:
                self._times.popitem(last=False)
            times = deque(maxlen=limit)
        times.append(now)
        self._times[key] = times  # most recently recorded last

    def forget(self, key: Hashable) -> None:
        self._times.pop(key, None)

    def __len__(self) -> int:
        return len(self._times)


class FailureThrottle:
    def __init__(
        self,
        clock: Callable[[], float],
        per_source: int = 20,
        per_source_user: int = 5,
        window: float = 60.0,
        max_tracked: int = 10000,
        refusal_delay: float = 1.0,
    ) -> None:
        self._clock = clock
        self._refusal_delay = max(0.0, refusal_delay)
        self._per_source = max(1, per_source)
        self._per_source_user = max(1, per_source_user)
        # (source, None) and (source, user) -> times of the latest failures
        self._failures = _Recent(window, max_tracked)

    def check(self, source: str, user: str | None = None) -> None:
        """Raise :class:`~atoll.errors.TooManyRequests` while ``source`` must wait (for any
        account, or for ``user``'s). Without ``user`` only the address is checked: what a
        daemon can do before it even reads the request's body."""
        now = self._clock()
        wait = self._failures.wait((source, None), self._per_source, now)
        if user is not None:
            wait = max(wait, self._failures.wait((source, user), self._per_source_user, now))
        if wait > 0:
            seconds = int(wait) + 1
            raise TooManyRequests(
                f"too many failed logins from {source}; try again in {seconds} seconds", seconds
            )

    async def admit(self, source: str, user: str | None = None) -> None:
        """:meth:`check`, answering a refusal only after ``refusal_delay`` seconds."""
        try:
            self.check(source, user)
        except TooManyRequests:
            await asyncio.sleep(self._refusal_delay)
            raise

    def failed(self, source: str, user: str) -> None:
        now = self._clock()
        self._failures.record((source, None), self._per_source, now)
        self._failures.record((source, user), self._per_source_user, now)

    def succeeded(self, source: str, user: str) -> None:
        self._failures.forget((source, user))


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` acts in any ``window`` seconds; ``limit`` 0: no limit. ``what``
    names the act in a refusal ("certificate renewals")."""

    limit: int
    window: float
    what: str

    def take(self, times: Sequence[object], now: float, who: str) -> list[float]:
        """One more act at ``now`` after those at ``times`` (the latest ones, as
        :meth:`take` returned them before; anything but a number is ignored): the times to
        keep now (those within the window: at most ``limit``), or
        :class:`~atoll.errors.TooManyRequests` naming ``who`` if ``limit`` of them are
        within the window. A time past ``now`` (another process's clock) counts."""
        if self.limit <= 0:
            return []
        recent = sorted(
            float(t) for t in times
            if isinstance(t, int | float) and not isinstance(t, bool) and t > now - self.window
        )  # fmt: skip
        if len(recent) >= self.limit:
            seconds = int(recent[-self.limit] + self.window - now) + 1
            raise TooManyRequests(
                f"{who} had its {self.limit} {self.what} of the last {self.window:g} seconds; "
                f"try again in {seconds} seconds",
                seconds,
            )
        return [*recent, now]
