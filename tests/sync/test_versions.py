"""Version negotiation: the highest version both ends speak, the same from either side, and
a clear refusal when there is none; the history only grows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll.sync import versions

SETS = st.sets(st.integers(1, 64), max_size=8)


@given(SETS, SETS)
def test_negotiation_picks_the_highest_common_version_from_either_side(
    theirs: set[int], ours: set[int]
) -> None:
    common = theirs & ours
    if not common:
        with pytest.raises(versions.NoCommonVersion) as none:
            versions.negotiate(theirs, ours)
        assert str(sorted(theirs)) in str(none.value) and str(sorted(ours)) in str(none.value)
        return
    chosen = versions.negotiate(theirs, ours)
    assert chosen == versions.negotiate(ours, theirs) == max(common)
    assert chosen in theirs and chosen in ours


@given(st.integers(1, versions.CURRENT))
def test_a_site_that_speaks_up_to_an_older_version_gets_that_version(newest: int) -> None:
    site = range(versions.OLDEST_ACCEPTED, newest + 1)
    assert versions.negotiate(site) == newest
    assert versions.supports(newest, "digest") == (newest >= versions.FEATURES["digest"])


def test_a_peer_newer_than_this_end_still_meets_it_at_current() -> None:
    assert versions.negotiate(range(1, versions.CURRENT + 5)) == versions.CURRENT


def test_the_history_is_numbered_from_one_without_gaps() -> None:
    assert [v.number for v in versions.HISTORY] == list(range(1, len(versions.HISTORY) + 1))
    assert all(v.summary for v in versions.HISTORY)
    assert (
        versions.SPOKEN[0] == versions.OLDEST_ACCEPTED and versions.SPOKEN[-1] == versions.CURRENT
    )
