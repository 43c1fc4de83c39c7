"""Anti-entropy digests: exactly the items that differ are found, in few round trips, in
frames the codec accepts; a broken or hostile reply is refused."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoll.sync import codec, digest, frames
from atoll.sync.digest import Difference, Items, Reconciler, respond

KEYS = st.from_regex(r"(server|network|volume)/[0-9a-f]{1,6}", fullmatch=True)


def exchange(hub: Items, site: Items) -> tuple[Reconciler, int, int]:
    """Run one check over the codec: the reconciler, round trips and bytes both ways."""
    rec = Reconciler(hub)
    outgoing = rec.start()
    trips = size = 0
    while outgoing:
        trips += 1
        replies = []
        for ranges in outgoing:
            request = codec.decode(codec.encode(frames.Digest(v=2, round=rec.round, ranges=ranges)))
            assert isinstance(request, frames.Digest)
            size += len(codec.encode(request))
            answer = frames.Digest(
                v=2, round=request.round, reply=True, ranges=respond(site, request.ranges)
            )
            data = codec.encode(answer)
            assert len(data) <= codec.DEFAULT_MAX_FRAME
            size += len(data)
            reply = codec.decode(data)
            assert isinstance(reply, frames.Digest)
            replies.append(reply)
        outgoing = []
        for reply in replies:
            outgoing += rec.read(reply)
    assert rec.done
    return rec, trips, size


def expected(hub: dict[str, int], site: dict[str, int]) -> list[Difference]:
    keys = sorted(k for k in hub.keys() | site.keys() if hub.get(k) != site.get(k))
    return [Difference(k, hub.get(k), site.get(k)) for k in keys]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(KEYS, st.integers(1, 10**9), max_size=700),
    st.data(),
)
def test_exactly_the_symmetric_difference_is_found(
    hub: dict[str, int], data: st.DataObject
) -> None:
    site = dict(hub)
    keys = sorted(hub)
    for _ in range(data.draw(st.integers(0, 40))):
        action = data.draw(st.sampled_from(["bump", "drop", "add"]))
        if action == "add" or not keys:
            site[data.draw(KEYS)] = data.draw(st.integers(1, 10**9))
            continue
        key = data.draw(st.sampled_from(keys))
        if action == "drop":
            site.pop(key, None)
        else:
            site[key] = data.draw(st.integers(1, 10**9))
    rec, trips, _ = exchange(Items(hub.items()), Items(site.items()))
    assert list(rec.differences) == expected(hub, site)
    assert trips <= digest.MAX_ROUNDS


@settings(max_examples=30, deadline=None)
@given(
    st.dictionaries(KEYS, st.integers(1, 10**9), max_size=300),
    st.dictionaries(KEYS, st.integers(1, 10**9), max_size=300),
)
def test_unrelated_sets_reconcile_too(hub: dict[str, int], site: dict[str, int]) -> None:
    rec, _, _ = exchange(Items(hub.items()), Items(site.items()))
    assert list(rec.differences) == expected(hub, site)


@pytest.fixture(scope="module")
def hundred_thousand() -> list[tuple[str, int]]:
    rng = random.Random(11)
    return [(f"server/{rng.getrandbits(128):032x}", rng.randint(1, 10**7)) for _ in range(100_000)]


def test_identical_sets_cost_one_frame_each_way(hundred_thousand: list[tuple[str, int]]) -> None:
    items = Items(hundred_thousand)
    rec, trips, size = exchange(items, items)
    assert (trips, rec.differences) == (1, ())
    assert size < 2048


@pytest.mark.parametrize("drift", ["stale", "lost", "extra"])
def test_one_drifted_object_among_100000_is_found_in_two_round_trips(
    hundred_thousand: list[tuple[str, int]], drift: str
) -> None:
    site = list(hundred_thousand)
    key, revision = site[54_321]
    if drift == "stale":
        site[54_321] = (key, revision - 1)
        want = Difference(key, revision, revision - 1)
    elif drift == "lost":
        del site[54_321]
        want = Difference(key, revision, None)
    else:
        key = "server/" + "f" * 32
        site.append((key, 5))
        want = Difference(key, None, 5)
    rec, trips, size = exchange(Items(hundred_thousand), Items(site))
    assert rec.differences == (want,)
    assert trips <= 2
    assert size < 10_000  # must-pass 9: found and the repair asked for in under 10 KB
    assert want.repair == ("delete" if drift == "extra" else "put")
    assert want.missing_at == {"stale": None, "lost": "site", "extra": "hub"}[drift]


def test_wide_drift_is_found_in_frames_under_the_limits() -> None:
    rng = random.Random(5)
    hub = {f"volume/{i:06x}": rng.randint(1, 99) for i in range(20_000)}
    site = {k: (v + 1 if rng.random() < 0.2 else v) for k, v in hub.items() if rng.random() > 0.1}
    rec, _, _ = exchange(Items(hub.items()), Items(site.items()))
    assert list(rec.differences) == expected(hub, site)


def test_difference_says_which_end_is_newer() -> None:
    assert Difference("a/1", 5, 3).newer == "hub"
    assert Difference("a/1", 3, 5).newer == "site"
    assert Difference("a/1", 3, None).newer is None
    assert digest.parse_key(digest.key_of("server", "ab")) == ("server", "ab")


@given(
    st.lists(
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12),
        min_size=2,
        max_size=2,
        unique=True,
    )
)
def test_a_split_boundary_separates_neighbours(pair: list[str]) -> None:
    below, at = sorted(pair)
    sep = digest._separator(below, at)
    assert below < sep <= at and at.startswith(sep)


def test_keys_must_be_unique_and_fit_a_frame() -> None:
    with pytest.raises(ValueError, match="twice"):
        Items([("a/1", 1), ("a/1", 2)])
    with pytest.raises(ValueError, match="characters"):
        Items([("a/" + "x" * frames.MAX_KEY, 1)])


def items_of(n: int, prefix: str = "server/") -> Items:
    return Items((f"{prefix}{i:08x}", i + 1) for i in range(n))


def test_a_reply_outside_what_was_asked_or_out_of_turn_is_refused() -> None:
    rec = Reconciler(items_of(1000))
    (asked,) = rec.start()
    assert len(asked) == digest.BUCKETS
    stray = frames.DigestRange(lo="", hi=asked[1].hi, items=[], count=0)  # two buckets in one
    with pytest.raises(digest.DigestError, match="not asked"):
        rec.read(frames.Digest(v=2, round=1, reply=True, ranges=(stray,)))
    with pytest.raises(digest.DigestError, match="not expected"):
        rec.read(frames.Digest(v=2, round=7, reply=True, ranges=()))
    rec = Reconciler(items_of(1000))
    rec.start()
    assert rec.read(frames.Digest(v=2, round=1, reply=True, ranges=())) == []
    assert rec.done and rec.differences == ()
    with pytest.raises(digest.DigestError, match="not expected"):
        rec.read(frames.Digest(v=2, round=1, reply=True, ranges=()))
    with pytest.raises(digest.DigestError, match="already started"):
        rec.start()


def test_a_peer_that_never_settles_is_cut_off() -> None:
    rec = Reconciler(items_of(10))
    outgoing = rec.start()
    with pytest.raises(digest.DigestError, match="did not settle"):
        for _ in range(digest.MAX_ROUNDS + 1):
            (ranges,) = outgoing
            bogus = tuple(
                frames.DigestRange(lo=r.lo, hi=r.hi, count=1, fingerprint="0" * 32) for r in ranges
            )
            outgoing = rec.read(frames.Digest(v=2, round=rec.round, reply=True, ranges=bogus))


def test_a_request_of_too_many_ranges_is_refused() -> None:
    ranges = tuple(
        frames.DigestRange(lo=f"a{i:04}", hi=f"a{i:04}z")
        for i in range(digest.RANGES_PER_FRAME + 1)
    )
    with pytest.raises(digest.DigestError, match="over"):
        respond(items_of(10), ranges)
