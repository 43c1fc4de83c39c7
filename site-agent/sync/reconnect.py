"""Reconnect delays: exponential, capped, with full jitter (so sites cut off together do not
come back together). Swap for ``atoll.sync``'s shared helper when it has one."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Reconnect:
    initial: float = 1.0
    maximum: float = 60.0
    attempts: int = 0  # failed attempts in a row

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt: uniform in [0, initial * 2**n], capped."""
        ceiling = min(self.maximum, self.initial * 2.0 ** min(self.attempts, 30))
        self.attempts += 1
        return random.uniform(0.0, ceiling)

    def reset(self) -> None:
        """A session opened: the next failure starts from ``initial`` again."""
        self.attempts = 0
