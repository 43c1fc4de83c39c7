"""Times as Atoll writes them in records and API bodies: UTC, ISO 8601, to the second
(``2026-12-01T13:52:37Z``), the form Keystone and Nova answer with. One place writes and
reads them, so every record, reply and log line agrees."""

from __future__ import annotations

import calendar
import time

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(epoch: float) -> str:
    """``epoch`` (seconds) as an ISO 8601 UTC time."""
    return time.strftime(FORMAT, time.gmtime(epoch))


def iso_precise(epoch: float) -> str:
    """``epoch`` to the microsecond (``2026-12-01T13:52:37.204518Z``): for an instant a
    client compares with its own clock, as Nova's ``launched_at`` is."""
    whole = int(epoch)
    micros = int((epoch - whole) * 1e6)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(whole))}.{micros:06d}Z"


def now_iso() -> str:
    return iso(time.time())


def parse_iso(text: str) -> float:
    """The epoch of a time written by :func:`iso`; ValueError if ``text`` is not one."""
    return float(calendar.timegm(time.strptime(text, FORMAT)))


def epoch_of(text: object) -> float | None:
    """The epoch of a recorded time, or None if there is none (or it is not one)."""
    if not isinstance(text, str):
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None
