"""The site image cache: LRU eviction under a cap, pins, persistence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
