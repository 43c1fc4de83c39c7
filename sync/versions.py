"""The sync protocol's version history and the hello's negotiation.

A site lags the hub (sites upgrade last, and some are offline for days), so the hub speaks
every version from :data:`OLDEST_ACCEPTED` up, and a session runs in the highest version
both ends speak. Add a version by appending to :data:`HISTORY`: what changed, in a sentence
a peer's operator understands; never edit an old entry. What each version adds is gated by
:func:`supports` at the place that uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Version:
    number: int
    summary: str


HISTORY: tuple[Version, ...] = (
    Version(
        1,
        "hello/welcome, changes and snapshot down with cumulative acks by revision, facts up "
        "(status, event, operation, telemetry) with cumulative acks by sequence, ping/pong, "
        "error",
    ),
    Version(
        2,
        "anti-entropy: digest rounds over (key, hub revision) ranges, and changes sent to "
        "repair drift carry repair=true",
    ),
    Version(
        3,
        "requests: the hub asks for the last lines of a server's serial console log "
        "(console, with a request id) and the site answers it once (console_reply: the text, "
        "within max_frame, or an error reason)",
    ),
)
CURRENT = HISTORY[-1].number
OLDEST_ACCEPTED = 1
SPOKEN: tuple[int, ...] = tuple(v.number for v in HISTORY if v.number >= OLDEST_ACCEPTED)

FEATURES = {"digest": 2, "console": 3}  # feature -> first version that has it


class NoCommonVersion(Exception):
    def __init__(self, theirs: Iterable[int], ours: Iterable[int] = SPOKEN) -> None:
        self.theirs, self.ours = sorted(theirs), sorted(ours)
        super().__init__(
            f"no protocol version in common: the peer speaks {self.theirs}, this end "
            f"speaks {self.ours}"
        )


def negotiate(theirs: Iterable[int], ours: Iterable[int] = SPOKEN) -> int:
    """The highest version both speak, or :class:`NoCommonVersion`."""
    common = set(theirs) & set(ours)
    if not common:
        raise NoCommonVersion(theirs, ours)
    return max(common)


def supports(version: int, feature: str) -> bool:
    return version >= FEATURES[feature]
