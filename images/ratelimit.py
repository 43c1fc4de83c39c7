"""A token bucket in bytes per second, shared by the concurrent fetches of one site."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """``await take(n)`` waits until ``n`` bytes fit under ``rate`` bytes/s.

    ``burst`` bytes may go at once (default: a quarter second's worth, at least 64 KiB).
    ``rate <= 0`` means no cap. Callers asking for more than ``burst`` go into debt and
    the next callers wait it off, so the long-run rate holds for any request size.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(rate / 4, 64 * 1024)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()
        self._lock = asyncio.Lock()

    async def take(self, n: int) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            if self._tokens < 0:
                await asyncio.sleep(-self._tokens / self.rate)
