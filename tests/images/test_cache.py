"""The site image cache: LRU eviction under a cap, pins, persistence."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from atoll.errors import Conflict, NotFound
from atoll.images.cache import ImageCache
from atoll.images.errors import CacheFull

KiB = 1024


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def _file(tmp: Path, name: str, size: int) -> Path:
    path = tmp / "incoming" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def test_lru_eviction_never_takes_a_pinned_image(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache", capacity=300 * KiB, clock=Clock())
    for name in ("a", "b", "c"):
        cache.add(name, _file(tmp_path, name, 100 * KiB))
    cache.pin("a", "server-1")  # a is the oldest, but a server uses it
    cache.touch("b")  # now c is the least recently used unpinned image
    cache.add("d", _file(tmp_path, "d", 100 * KiB))
    assert {e.image_id for e in cache.entries()} == {"a", "b", "d"}
    assert not (tmp_path / "cache" / "images" / "c").exists()
    assert cache.path("a").is_file() and cache.used() <= 300 * KiB
    with pytest.raises(NotFound):
        cache.path("c")


def test_when_only_pinned_images_are_left_nothing_is_evicted(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache", capacity=200 * KiB, clock=Clock())
    cache.add("a", _file(tmp_path, "a", 100 * KiB))
    cache.add("b", _file(tmp_path, "b", 100 * KiB))
    cache.pin("a", "s1")
    cache.pin("b", "s2")
    with pytest.raises(CacheFull, match="pinned"):
        cache.add("c", _file(tmp_path, "c", 100 * KiB))
    assert cache.has("a") and cache.has("b")
    with pytest.raises(Conflict, match="in use by s1"):
        cache.remove("a")
    cache.unpin("b", "s2")
    assert cache.evict_to_fit(100 * KiB) == ["b"]


def test_the_index_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    cache = ImageCache(tmp_path / "cache", capacity=1 << 20, clock=clock)
    cache.add("a", _file(tmp_path, "a", 10 * KiB))
    cache.pin("a", "s1")
    again = ImageCache(tmp_path / "cache", capacity=1 << 20, clock=clock)
    assert again.entries()[0].pins == ["s1"] and again.path("a").is_file()


class CacheMachine(RuleBasedStateMachine):
    """Random add/touch/pin/unpin sequences: the cap holds and pinned images stay."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="atoll-cache-"))
        self.clock = Clock()
        self.cache = ImageCache(self.tmp / "cache", capacity=10 * KiB, clock=self.clock)
        self.pinned: set[str] = set()

    @rule(name=st.sampled_from("abcdef"), kib=st.integers(1, 6))
    def add(self, name: str, kib: int) -> None:
        before = {e.image_id for e in self.cache.entries()}
        try:
            self.cache.add(name, _file(self.tmp, name, kib * KiB))
        except CacheFull:
            assert {e.image_id for e in self.cache.entries()} == before  # nothing evicted
            return
        assert self.cache.has(name)

    @rule(name=st.sampled_from("abcdef"))
    def pin(self, name: str) -> None:
        if self.cache.has(name):
            self.cache.pin(name, "server")
            self.pinned.add(name)

    @rule(name=st.sampled_from("abcdef"))
    def unpin(self, name: str) -> None:
        self.cache.unpin(name, "server")
        self.pinned.discard(name)

    @rule(name=st.sampled_from("abcdef"))
    def touch(self, name: str) -> None:
        if self.cache.has(name):
            self.cache.touch(name)

    @invariant()
    def cap_holds_pins_stay_files_match(self) -> None:
        assert self.cache.used() <= self.cache.capacity
        assert all(self.cache.has(name) for name in self.pinned)
        on_disk = {p.name for p in (self.tmp / "cache" / "images").iterdir()}
        assert on_disk == {e.image_id for e in self.cache.entries()}

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


TestCacheMachine = CacheMachine.TestCase
TestCacheMachine.settings = settings(max_examples=30, stateful_step_count=20, deadline=None)
