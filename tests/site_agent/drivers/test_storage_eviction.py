"""The image cache's eviction rule (``storage/eviction.py``), as a property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll.site_agent.drivers.storage.errors import ImageCacheFull
from atoll.site_agent.drivers.storage.eviction import CacheUse, victims

cache = st.dictionaries(
    st.sampled_from("abcdefgh"),
    st.tuples(st.integers(1, 100), st.integers(0, 1000), st.booleans()),
    max_size=8,
)


@given(cache, st.integers(0, 200), st.integers(1, 500))
def test_evicts_least_recently_used_unprotected_until_it_fits(
    entries: dict[str, tuple[int, int, bool]], incoming: int, cap: int
) -> None:
    uses = [CacheUse(i, size, used) for i, (size, used, _) in entries.items()]
    protected = {i for i, (_, _, pin) in entries.items() if pin}
    try:
        chosen = victims(uses, protected, image_id="new", incoming_bytes=incoming, cap_bytes=cap)
    except ImageCacheFull as exc:
        free = sum(u.allocated_bytes for u in uses if u.image_id not in protected)
        assert sum(u.allocated_bytes for u in uses) - free + incoming > cap
        assert str(cap) in exc.message
        return
    assert not set(chosen) & protected
    left = sum(u.allocated_bytes for u in uses if u.image_id not in chosen)
    assert left + incoming <= cap
    unprotected = sorted(
        (u for u in uses if u.image_id not in protected), key=lambda u: (u.last_used, u.image_id)
    )
    assert chosen == [u.image_id for u in unprotected[: len(chosen)]]  # oldest first, no gaps
    if chosen:  # no more than needed: keeping the last victim would not fit
        last = next(u for u in uses if u.image_id == chosen[-1])
        assert left + last.allocated_bytes + incoming > cap


def test_no_cap_evicts_nothing() -> None:
    uses = [CacheUse("a", 10**12, 0.0)]
    assert victims(uses, (), image_id="b", incoming_bytes=10**12, cap_bytes=0) == []


def test_an_image_bigger_than_the_cap_is_refused() -> None:
    with pytest.raises(ImageCacheFull, match="cap of 100 bytes"):
        victims([], (), image_id="big", incoming_bytes=101, cap_bytes=100)
