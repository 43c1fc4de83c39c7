"""The id scheme: one textual form, the origin readable from the id, old data still parses."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll import ids
from atoll.errors import InvalidId, InvalidInput

pytestmark = pytest.mark.unit

tags = st.integers(min_value=0, max_value=(1 << ids.TAG_BITS) - 1)
names = st.text(min_size=1, max_size=40)


def test_hub_ids_are_uuid4_as_32_hex_digits() -> None:
    made = {ids.hub_id() for _ in range(200)}
    assert len(made) == 200
    for value in made:
        assert re.fullmatch(r"[0-9a-f]{32}", value)
        as_uuid = uuid.UUID(value)
        assert as_uuid.version == 4 and as_uuid.variant == uuid.RFC_4122
        assert ids.origin_of(value) == "hub" and ids.tag_of(value) is None


@given(tags)
def test_site_ids_are_uuid8_carrying_the_site_tag(tag: int) -> None:
    value = ids.site_id(tag)
    assert re.fullmatch(r"[0-9a-f]{32}", value)
    assert value[12] == "8" and uuid.UUID(value).variant == uuid.RFC_4122
    assert ids.origin_of(value) == "site"
    assert ids.tag_of(value) == tag


@given(names)
def test_a_site_tag_is_stable_per_name_and_fits(name: str) -> None:
    assert ids.site_tag(name) == ids.site_tag(name)
    assert ids.tag_of(ids.site_id(ids.site_tag(name))) == ids.site_tag(name)


@given(tags)
def test_ids_round_trip_through_parse_in_any_case(tag: int) -> None:
    for value in (ids.hub_id(), ids.site_id(tag)):
        assert ids.parse(value) == value
        assert ids.parse(value.upper()) == value
        assert ids.is_id(value) and not ids.is_id(value.upper())
        assert re.fullmatch(ids.PATTERN, value)


def test_site_ids_do_not_share_the_prefix_that_names_host_devices() -> None:
    """Taps are named from the first 12 hex digits of a port id (IFNAMSIZ): all NICs of one
    server are made in the same millisecond, so those digits must not be a timestamp."""
    tag = ids.site_tag("edge-1")
    prefixes = {ids.site_id(tag)[:12] for _ in range(64)}
    assert len(prefixes) == 64


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_a_hub_version_id_is_never_taken_for_a_site_id(number: int) -> None:
    """Whatever its other bits, a UUIDv4 is a hub id: the two origins cannot collide."""
    as_v4 = uuid.UUID(int=number, version=4).hex
    assert ids.origin_of(as_v4) == "hub"


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_legacy_hub_ids_random_hex_still_parse_as_hub_ids(number: int) -> None:
    """Hub ids minted before the scheme were 32 random hex digits; they keep working."""
    legacy = f"{number:032x}"
    assert ids.parse(legacy) == legacy
    # Only a value passing version, variant and the 16-bit check reads as a site id.
    if ids.origin_of(legacy) == "site":
        assert legacy[12] == "8" and uuid.UUID(legacy).variant == uuid.RFC_4122


def test_a_site_id_with_one_bit_changed_is_no_longer_a_site_id() -> None:
    """The 16-bit check is what keeps random (legacy hub) hex from reading as a site id."""
    tag = ids.site_tag("edge-1")
    flipped = [f"{int(ids.site_id(tag), 16) ^ (1 << 20):032x}" for _ in range(200)]
    assert {ids.origin_of(value) for value in flipped} == {"hub"}


@given(st.uuids(version=4))
def test_legacy_dashed_site_ids_are_kept_as_written(legacy: uuid.UUID) -> None:
    """An older agent.db holds dashed uuid4 ids (also its libvirt domain names and volume
    files), so parse keeps the dashed text, lowercased, and knows the site wrote it."""
    text = str(legacy)
    assert ids.parse(text) == text
    assert ids.parse(text.upper()) == text
    assert ids.origin_of(text) == "site"
    assert ids.tag_of(text) is None
    assert re.fullmatch(ids.PATTERN, text)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "srv1",
        "0" * 31,
        "0" * 33,
        "g" * 32,
        " " + "0" * 32,
        "0" * 32 + "\n",
        "{" + "0" * 32 + "}",
        "urn:uuid:" + "0" * 32,
        "0" * 8 + "-" + "0" * 24,
        "0" * 8 + "-0000-0000-0000-" + "0" * 11 + "x",
        "0" * 10_000,
        None,
        32,
        ["0" * 32],
    ],
)
def test_garbage_is_refused_naming_the_field(bad: object) -> None:
    assert not ids.is_id(bad)
    with pytest.raises(InvalidId) as caught:
        ids.parse(bad, "body.image")
    error = caught.value
    assert isinstance(error, InvalidInput) and error.http_status == 400
    assert error.field == "body.image"
    assert [p.where for p in error.problems] == ["body.image"]
    assert len(error.message) < 200  # a huge value is not echoed back whole


@given(st.text(max_size=40))
def test_parse_accepts_exactly_what_the_pattern_states(text: str) -> None:
    if re.fullmatch(ids.PATTERN, text.lower()):
        assert ids.parse(text) == text.lower()
    else:
        with pytest.raises(InvalidId):
            ids.parse(text)


def test_a_site_tag_out_of_range_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        ids.site_id(1 << ids.TAG_BITS)


@given(st.lists(st.text(max_size=8), max_size=4), st.lists(st.text(max_size=8), max_size=4))
def test_derived_ids_are_hub_ids_and_a_function_of_their_parts(a: list[str], b: list[str]) -> None:
    first = ids.derived_hub_id(*a)
    assert ids.is_id(first) and ids.origin_of(first) == "hub"
    assert uuid.UUID(hex=first).version == 4
    assert ids.derived_hub_id(*a) == first
    if a != b:
        assert ids.derived_hub_id(*b) != first  # ("ab",) and ("a", "b") differ too
