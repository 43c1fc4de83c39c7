from __future__ import annotations

import pytest

from atoll.timestamps import epoch_of, iso, iso_precise, parse_iso


def test_times_round_trip_to_the_second_in_utc() -> None:
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(1796132557.9) == "2026-12-01T13:42:37Z"
    assert parse_iso("2026-12-01T13:42:37Z") == 1796132557.0


def test_what_is_not_a_time_is_said_so() -> None:
    with pytest.raises(ValueError):
        parse_iso("yesterday")
    assert epoch_of("2026-12-01T13:42:37") is None  # no zone: not one of ours
    assert epoch_of(None) is None and epoch_of(17) is None
    assert epoch_of("1970-01-01T00:01:00Z") == 60.0


def test_a_precise_time_keeps_its_microseconds() -> None:
    assert iso_precise(1796132557.25) == "2026-12-01T13:42:37.250000Z"
    assert iso_precise(0.9999999) == "1970-01-01T00:00:00.999999Z"
