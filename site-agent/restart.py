"""Restart policy for crashed or exited guests, with exponential backoff.

``always`` restarts whenever a guest that should run is not running; ``on-failure`` only
when it died (QEMU crashed, or was destroyed behind the agent's back), not when the guest
shut itself down; ``never`` leaves it off (a ``start`` action brings it back).

Backoff: the n-th restart in a row waits ``initial * 2**(n-1)`` seconds, at most ``maximum``;
the count resets once the guest has been running for ``stable_after`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ExitKind = Literal["none", "crash", "guest"]
_CRASH_REASONS = {"crashed", "failed", "destroyed", "unknown"}
_GUEST_REASONS = {"shutdown"}


def exit_kind(reason: str) -> ExitKind:
    """How a shut-off domain got there, from the hypervisor's reason."""
    if reason in _CRASH_REASONS:
        return "crash"
    if reason in _GUEST_REASONS:
        return "guest"
    return "none"


@dataclass(frozen=True)
class Backoff:
    initial: float = 2.0
    maximum: float = 300.0
    stable_after: float = 600.0

    def delay(self, restarts: int) -> float:
        """Seconds to wait before restart number ``restarts + 1``."""
        if restarts <= 0:
            return 0.0
        return float(min(self.initial * 2 ** (restarts - 1), self.maximum))


def should_restart(policy: str, kind: ExitKind) -> bool:
    if kind == "none":
        return True  # never started, or stopped by us: not an exit, just start it
    if policy == "always":
        return True
    if policy == "on-failure":
        return kind == "crash"
    return False
