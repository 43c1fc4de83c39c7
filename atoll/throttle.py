"""Slowing down guessing without locking anyone out: failed logins counted per source address.

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
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable

from atoll.errors import TooManyRequests


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
        self._window = window
        self._max = max_tracked
        # key -> times of the latest failures, at most the key's limit of them
        self._failures: OrderedDict[tuple[str, str | None], deque[float]] = OrderedDict()

    def check(self, source: str, user: str | None = None) -> None:
        """Raise :class:`~atoll.errors.TooManyRequests` while ``source`` must wait (for any
        account, or for ``user``'s). Without ``user`` only the address is checked: what a
        daemon can do before it even reads the request's body."""
        now = self._clock()
        wait = self._wait((source, None), self._per_source, now)
        if user is not None:
            wait = max(wait, self._wait((source, user), self._per_source_user, now))
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
        self._record((source, None), self._per_source, now)
        self._record((source, user), self._per_source_user, now)

    def succeeded(self, source: str, user: str) -> None:
        self._failures.pop((source, user), None)

    def _wait(self, key: tuple[str, str | None], limit: int, now: float) -> float:
        times = self._failures.get(key)
        if times is None or len(times) < limit:
            return 0.0
        return times[0] + self._window - now  # the oldest of the last ``limit`` failures

    def _record(self, key: tuple[str, str | None], limit: int, now: float) -> None:
        times = self._failures.pop(key, None)
        if times is None:
            while len(self._failures) >= self._max:
                self._failures.popitem(last=False)
            times = deque(maxlen=limit)
        times.append(now)
        self._failures[key] = times  # most recently failed last
