"""Slowing down password guessing: too many failures for one user name lock it briefly.

After ``limit`` failed logins for a user name within ``window`` seconds, further attempts
for that name are refused (HTTP 429) until the window has passed, even with the right
password, so guessing costs time. Kept per hub process, in memory, and bounded.
"""

from __future__ import annotations

from collections.abc import Callable

from atoll.hub.errors import TooManyRequests


class LoginThrottle:
    def __init__(
        self,
        clock: Callable[[], float],
        limit: int = 5,
        window: float = 60.0,
        max_tracked: int = 10000,
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._max = max_tracked
        self._failures: dict[str, list[float]] = {}

    def _recent(self, user: str) -> list[float]:
        cutoff = self._clock() - self._window
        times = [t for t in self._failures.get(user, []) if t > cutoff]
        if times:
            self._failures[user] = times
        else:
            self._failures.pop(user, None)
        return times

    def check(self, user: str) -> None:
        """Raise TooManyRequests while ``user`` is locked out."""
        times = self._recent(user)
        if len(times) >= self._limit:
            wait = max(1, int(times[0] + self._window - self._clock()) + 1)
            raise TooManyRequests(
                f"too many failed logins for {user}; try again in {wait} seconds", wait
            )

    def failed(self, user: str) -> None:
        if user not in self._failures and len(self._failures) >= self._max:
            del self._failures[next(iter(self._failures))]
        self._failures.setdefault(user, []).append(self._clock())

    def succeeded(self, user: str) -> None:
        self._failures.pop(user, None)
