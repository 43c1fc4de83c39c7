"""The codec: every frame round-trips, nothing but FrameError ever comes out of bad bytes,
defaults stay off the wire, and what frames carry is checked where the codec can."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atoll.errors import InvalidInput
from atoll.resources.fields import bounded
from atoll.sync import codec, frames
from tests.sync.strategies import EVERY_FRAME, server

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(EVERY_FRAME)
def test_every_frame_type_round_trips(frame: frames.Frame) -> None:
    again = codec.decode(codec.encode(frame))
    assert again == frame
    assert type(again) is type(frame)
    assert dict(again.extra) == dict(frame.extra)  # a newer peer's fields come back
    assert codec.encode(again) == codec.encode(frame)


def test_every_frame_type_is_covered() -> None:
    seen: set[str] = set()

    @settings(max_examples=300, deadline=None)
    @given(EVERY_FRAME)
    def collect(frame: frames.Frame) -> None:
        seen.add(frame.TYPE)

    collect()
    assert seen == set(frames.FRAMES)


def decode_only_frame_errors(data: bytes) -> None:
    try:
        frame = codec.decode(data)
    except codec.FrameError as exc:
        assert exc.code in ("bad_frame", "too_large")
        assert exc.message
    else:
        assert isinstance(frame, frames.Frame)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_only_ever_raise_frame_error(data: bytes) -> None:
    decode_only_frame_errors(data)


WIRE_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutate(wire: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """``wire`` with one value somewhere in it replaced, removed or added to."""
    if isinstance(wire, dict) and wire and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(wire, key=str)))
        choice = draw(st.integers(0, 2))
        out = dict(wire)
        if choice == 0:
            del out[key]
        elif choice == 1:
            out[key] = draw(WIRE_VALUES)
        else:
            out[key] = mutate(out[key], draw)
        return out
    if isinstance(wire, list) and wire and draw(st.booleans()):
        i = draw(st.integers(0, len(wire) - 1))
        out_list = list(wire)
        out_list[i] = mutate(out_list[i], draw) if draw(st.booleans()) else draw(WIRE_VALUES)
        return out_list
    return draw(WIRE_VALUES)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVERY_FRAME, st.data())
def test_mutated_valid_frames_only_ever_raise_frame_error(
    frame: frames.Frame, data: st.DataObject
) -> None:
    wire = msgpack.unpackb(codec.encode(frame), raw=False)
    for _ in range(data.draw(st.integers(1, 3))):
        wire = mutate(wire, data.draw)
    decode_only_frame_errors(msgpack.packb(wire, use_bin_type=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVERY_FRAME, st.data())
def test_corrupted_and_cut_frame_bytes_only_ever_raise_frame_error(
    frame: frames.Frame, data: st.DataObject
) -> None:
    raw = bytearray(codec.encode(frame))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    decode_only_frame_errors(bytes(raw[: data.draw(st.integers(0, len(raw)))]))


def test_deeply_nested_and_huge_declared_sizes_are_refused_quickly() -> None:
    decode_only_frame_errors(b"\x91" * 100_000)  # a list in a list ... 100,000 deep
    decode_only_frame_errors(b"\xdd\xff\xff\xff\xff")  # an array of 4 billion items, no items
    decode_only_frame_errors(b"\xdb\xff\xff\xff\xff")  # a 4 GiB string, no bytes
    decode_only_frame_errors(b"\xc1")  # never used by msgpack
    decode_only_frame_errors(b"")


def test_frames_over_the_maximum_size_are_refused() -> None:
    big = frames.Error(v=1, code="x", message="m" * 4000)
    data = codec.encode(big)
    with pytest.raises(codec.FrameError) as refused:
        codec.decode(data, max_frame=len(data) - 1)
    assert refused.value.code == "too_large"
    assert codec.decode(data, max_frame=len(data)) == big
    with pytest.raises(codec.FrameError) as default:
        codec.decode(b"\xc4" + b"\x00" * (codec.DEFAULT_MAX_FRAME + 1))
    assert default.value.code == "too_large"


def test_defaults_stay_off_the_wire_and_come_back() -> None:
    change = frames.Change(revision=7, op="delete", kind="server", id="d" * 32)
    frame = frames.Changes(v=2, n=3, revision=7, items=(change,))
    wire = msgpack.unpackb(codec.encode(frame))
    item = {"revision": 7, "op": "delete", "kind": "server", "id": "d" * 32}
    assert wire == {"t": "changes", "v": 2, "n": 3, "revision": 7, "items": [item]}
    again = codec.decode(codec.encode(frame))
    assert isinstance(again, frames.Changes)
    assert again.items[0].override is False and again.items[0].object is None
    plain = msgpack.packb({"t": "changes", **frame.to_wire()})
    assert len(codec.encode(frame)) < len(plain)
    ping = frames.Ping(v=2, n=0)
    assert msgpack.unpackb(codec.encode(ping)) == {"t": "ping", "v": 2}


def test_the_history_is_off_the_wire_when_empty_and_an_older_peer_keeps_it_as_extra() -> None:
    hello = frames.Hello(v=2, n=1, versions=(1, 2), site_id="d" * 32, agent_version="x",
                         model_version=1, applied_revision=9)  # fmt: skip
    assert "history" not in msgpack.unpackb(codec.encode(hello))
    said = dataclasses.replace(hello, history="ab" * 16)
    assert msgpack.unpackb(codec.encode(said))["history"] == "ab" * 16
    assert codec.decode(codec.encode(said)) == said
    welcome = frames.Welcome(v=2, n=1, session="s", hub_revision=3, acked_seq=0)
    assert "history" not in msgpack.unpackb(codec.encode(welcome))
    again = codec.decode(codec.encode(welcome))
    assert isinstance(again, frames.Welcome) and again.history == ""
    # an older peer's Welcome has no such field: it keeps it as extra and sends it back
    wire = msgpack.unpackb(codec.encode(dataclasses.replace(welcome, history="cd" * 16)))
    wire.pop("t")
    older = OldWelcome.from_wire(wire, where="welcome")
    assert dict(older.extra) == {"history": "cd" * 16}
    # one not a history id is refused, naming the field
    bad = {**msgpack.unpackb(codec.encode(hello)), "history": "no spaces here"}
    assert "hello.history" in refused(msgpack.packb(bad))
    assert "hello.history" in refused(msgpack.packb({**bad, "history": "a" * 65}))


@dataclasses.dataclass(frozen=True, kw_only=True)
class OldWelcome(frames.Frame):
    """The welcome as a peer from before history ids knows it."""

    TYPE = "welcome"
    WHAT = "welcome frame"
    session: str = bounded(low=1, high=64)
    hub_revision: int = bounded(low=0)
    acked_seq: int = bounded(low=0)
    heartbeat_interval: float = bounded(10.0, low=0.1, high=3600)
    dead_after: float = bounded(40.0, low=0.1, high=86400)
    max_frame: int = bounded(1 << 20, low=1024)
    window: int = bounded(8, low=1, high=1024)
    reconnect_spread: float = bounded(40.0, low=0.1, high=3600)


def changes_frame(item: dict[str, Any]) -> bytes:
    item = {"revision": 5, "op": "put", "kind": "server", "id": "d" * 32, **item}
    data: bytes = msgpack.packb({"t": "changes", "v": 2, "revision": 5, "items": [item]})
    return data


def refused(data: bytes) -> str:
    with pytest.raises(codec.FrameError) as exc:
        codec.decode(data)
    assert exc.value.code == "bad_frame"
    return exc.value.message


def test_a_put_carries_a_valid_desired_object_naming_the_same_object() -> None:
    good = codec.decode(changes_frame({"object": server("d" * 32, 5)}))
    assert isinstance(good, frames.Changes)
    desired = good.items[0].desired
    assert desired is not None and desired.meta.id == "d" * 32 and desired.hub_revision == 5
    assert "items[0].object.spec.flavor" in refused(
        changes_frame({"object": {**server("d" * 32, 5), "spec": {}}})
    )
    assert "items[0].object.meta.id" in refused(changes_frame({"object": server("e" * 32, 5)}))
    assert "items[0].object.hub_revision" in refused(changes_frame({"object": server("d" * 32, 4)}))
    assert "items[0].object" in refused(changes_frame({"object": None}))
    assert "a delete carries no object" in refused(
        changes_frame({"op": "delete", "object": server("d" * 32, 5)})
    )
    # identity data (not a desired object's kind) is a map the codec does not know further
    other = codec.decode(changes_frame({"kind": "revocation", "object": {"jti": "x"}}))
    assert isinstance(other, frames.Changes) and other.items[0].desired is None
    assert "a put carries an object" in refused(changes_frame({"kind": "revocation", "object": 3}))


def facts_frame(fact: dict[str, Any]) -> bytes:
    data: bytes = msgpack.packb({"t": "facts", "v": 2, "items": [{"seq": 1, **fact}]})
    return data


def test_a_fact_body_is_an_object_whose_model_the_hub_checks_when_it_records_it() -> None:
    """A frame is refused for its shape only: a fact that breaks its type's model is the
    hub's to refuse alone (hub/sync/facts.py), or the site would send the frame again at
    every reconnect and nothing after it would ever be recorded."""
    status = {"kind": "server", "id": "d" * 32, "seq": 1, "state": "ACTIVE"}
    assert isinstance(codec.decode(facts_frame({"type": "status", "body": status})), frames.Facts)
    bad = codec.decode(facts_frame({"type": "status", "body": {**status, "state": "active"}}))
    assert isinstance(bad, frames.Facts) and bad.items[0].body["state"] == "active"
    assert "items[0].body" in refused(facts_frame({"type": "event", "body": "text"}))
    assert "items[0].body" in refused(facts_frame({"type": "operation"}))


def test_a_capacity_beyond_bounds_decodes_and_is_refused_by_itself() -> None:
    """A hello keeps its session whatever figures it says (the hub refuses the figures)."""
    ok = {"vcpus": 16, "ram_mb": 4096, "used_vcpus": 2}
    huge = {"vcpus": 2**64 - 1, "ram_mb": 4096}
    for figures in (ok, huge):
        frame = {"t": "hello", "v": 2, "n": 1, "versions": [2], "site_id": "d" * 32,
                 "agent_version": "x", "model_version": 1, "capacity": figures}  # fmt: skip
        decoded = codec.decode(msgpack.packb(frame))
        assert isinstance(decoded, frames.Hello) and decoded.capacity == figures
    hello = frames.Hello(
        v=2, versions=(2,), site_id="d" * 32, agent_version="x", model_version=1, capacity=ok
    )
    said = frames.capacity_of(hello)
    assert said == frames.Capacity(vcpus=16, ram_mb=4096, used_vcpus=2)
    with pytest.raises(InvalidInput) as exc:
        frames.capacity_of(frames.Ping(v=2, capacity=huge))
    assert [p.where for p in exc.value.problems] == ["ping.capacity.vcpus"]
    ping = {"t": "ping", "v": 2, "n": 2, "capacity": "lots"}
    assert "capacity: must be an object" in refused(msgpack.packb(ping))
    # what a site says of itself is held to the bounds
    held = frames.Capacity(vcpus=2**64 - 1, used_disk_gb=-1).within_bounds()
    assert held.vcpus == frames.MAX_VCPUS and held.used_disk_gb == 0
    assert frames.capacity_of(frames.Ping(v=2, capacity=held)) == held


def digest_frame(rng: dict[str, Any]) -> bytes:
    data: bytes = msgpack.packb(
        {"t": "digest", "v": 2, "round": 1, "ranges": [{"lo": "", "hi": "", **rng}]}
    )
    return data


@pytest.mark.parametrize(
    ("rng", "problem"),
    [
        ({"items": "x"}, "list of [key, revision] pairs"),
        ({"items": [["a/1"]], "count": 1}, "[0] must be a [key, revision] pair"),
        ({"items": [[1, 2]], "count": 1}, "[0] key must be"),
        ({"items": [["a/\x00", 2]], "count": 1}, "[0] key must be"),
        ({"items": [["a/1", -1]], "count": 1}, "[0] revision must be"),
        ({"items": [["a/1", True]], "count": 1}, "[0] revision must be"),
        ({"items": [["b/1", 1], ["a/1", 1]], "count": 2}, "[1] keys must be sorted and unique"),
        ({"items": [["a/1", 1], ["a/1", 2]], "count": 2}, "[1] keys must be sorted and unique"),
        ({"lo": "b", "items": [["a/1", 1]], "count": 1}, "outside the range"),
        ({"hi": "a/1", "items": [["a/1", 1]], "count": 1}, "outside the range"),
        ({"items": [["a/1", 1]], "count": 2}, "ranges[0].count"),
        ({"items": [], "fingerprint": "0" * 32}, "a listed range has no fingerprint"),
        ({"fingerprint": "xyz"}, "32 hex digits"),
        ({"lo": "b", "hi": "a"}, "must be above lo"),
    ],
)
def test_digest_ranges_are_checked(rng: dict[str, Any], problem: str) -> None:
    assert problem in refused(digest_frame(rng))


def test_a_listed_digest_range_loads() -> None:
    frame = codec.decode(digest_frame({"items": [["a/1", 1], ["b/2", 0]], "count": 2}))
    assert isinstance(frame, frames.Digest)
    assert frame.ranges[0].items == [["a/1", 1], ["b/2", 0]]


def test_a_full_changes_frame_of_servers_fits_the_maximum_size() -> None:
    ids = [f"{r:032x}" for r in range(frames.MAX_ITEMS + 1)]
    items = tuple(
        frames.Change(revision=r, op="put", kind="server", id=ids[r], object=server(ids[r], r))
        for r in range(1, frames.MAX_ITEMS + 1)
    )
    data = codec.encode(frames.Changes(v=2, revision=frames.MAX_ITEMS, items=items))
    assert len(data) <= codec.DEFAULT_MAX_FRAME
    assert codec.decode(data) == frames.Changes(v=2, revision=frames.MAX_ITEMS, items=items)


@pytest.mark.parametrize("spec", ["ab", 5, [[1, 2, 3]], [1]])
def test_an_old_model_version_object_with_a_spec_that_is_not_a_map_is_a_frame_error(
    spec: object,
) -> None:
    old = {"v": 1, "kind": "server", "id": "d" * 32, "spec": spec}
    assert "items[0].object.spec" in refused(changes_frame({"object": old}))


def test_a_desired_object_with_a_null_spec_is_a_frame_error() -> None:
    assert "items[0].object.spec" in refused(
        changes_frame({"object": {**server("d" * 32, 5), "spec": None}})
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([1, 2, 3]), st.data())
def test_mutated_objects_in_a_change_only_ever_raise_frame_error(
    version: int, data: st.DataObject
) -> None:
    wire: Any = {**server("d" * 32, 5), "v": version}
    for _ in range(data.draw(st.integers(1, 4))):
        wire = mutate(wire, data.draw)
    decode_only_frame_errors(changes_frame({"object": wire}))
