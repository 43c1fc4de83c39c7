"""The site's image cache: image files under a size cap, LRU eviction, pins.

An image a server uses is *pinned* (by a holder name, e.g. the server id); a pinned image
is never evicted or removed. :meth:`ImageCache.evict_to_fit` drops least-recently-used
unpinned images until ``needed`` more bytes fit under the cap; if the unpinned images are
not enough it evicts nothing and raises :class:`CacheFull`.

Sizes are allocated bytes (a sparse image costs what it holds). The index (sizes, last
use, pins) is a JSON file written by rename, so it survives restarts. One agent owns a
cache directory; the class is not meant for concurrent writers. After an eviction the
caller may gc its chunk store against the manifests of what is left.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from atoll.errors import Conflict, InvalidInput, NotFound, Problem
from atoll.images.errors import CacheFull


@dataclass
class CacheEntry:
    image_id: str
    size: int
    last_used: float
    pins: list[str] = field(default_factory=list)


class ImageCache:
    def __init__(
        self, root: Path, capacity: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = Path(root)
        self.capacity = capacity
        self._clock = clock
        self._images = self.root / "images"
        self._images.mkdir(parents=True, exist_ok=True)
        self._index_path = self.root / "index.json"
        self._entries = self._load()

    # -- queries
    def path(self, image_id: str) -> Path:
        """Where the image file is; NotFound if the cache does not hold it."""
        if image_id not in self._entries:
            raise NotFound(f"image {image_id} is not in the site cache")
        return self._images / image_id

    def has(self, image_id: str) -> bool:
        return image_id in self._entries

    def used(self) -> int:
        return sum(e.size for e in self._entries.values())

    def entries(self) -> list[CacheEntry]:
        return sorted(self._entries.values(), key=lambda e: e.last_used)

    # -- changes
    def add(self, image_id: str, source: Path) -> Path:
        """Move ``source`` (same filesystem) into the cache, making room first."""
        _check_id(image_id)
        size = _allocated(source)
        old = self._entries.get(image_id)
        self.evict_to_fit(size - (old.size if old else 0), keep=image_id)
        final = self._images / image_id
        Path(source).replace(final)
        pins = old.pins if old else []
        self._entries[image_id] = CacheEntry(image_id, size, self._clock(), pins)
        self._save()
        return final

    def touch(self, image_id: str) -> None:
        self._entry(image_id).last_used = self._clock()
        self._save()

    def pin(self, image_id: str, holder: str) -> None:
        entry = self._entry(image_id)
        if holder not in entry.pins:
            entry.pins.append(holder)
        entry.last_used = self._clock()
        self._save()

    def unpin(self, image_id: str, holder: str) -> None:
        entry = self._entries.get(image_id)
        if entry is not None and holder in entry.pins:
            entry.pins.remove(holder)
            self._save()

    def remove(self, image_id: str) -> None:
        entry = self._entry(image_id)
        if entry.pins:
            raise Conflict(f"image {image_id} is in use by {', '.join(entry.pins)}")
        self._drop(image_id)
        self._save()

    def evict_to_fit(self, needed: int, *, keep: str | None = None) -> list[str]:
        """Evict LRU unpinned images until ``needed`` bytes fit; return what went."""
        excess = self.used() + needed - self.capacity
        if excess <= 0:
            return []
        victims: list[str] = []
        for entry in self.entries():
            if excess <= 0:
                break
            if entry.pins or entry.image_id == keep:
                continue
            victims.append(entry.image_id)
            excess -= entry.size
        if excess > 0:
            pinned = sum(e.size for e in self._entries.values() if e.pins)
            raise CacheFull(
                f"the image cache cannot fit {needed} more bytes under its cap of "
                f"{self.capacity}: {pinned} bytes are pinned by servers using them"
            )
        for image_id in victims:
            self._drop(image_id)
        self._save()
        return victims

    # -- internals
    def _entry(self, image_id: str) -> CacheEntry:
        try:
            return self._entries[image_id]
        except KeyError:
            raise NotFound(f"image {image_id} is not in the site cache") from None

    def _drop(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self._images / image_id).unlink()
        self._entries.pop(image_id, None)

    def _load(self) -> dict[str, CacheEntry]:
        try:
            raw = json.loads(self._index_path.read_text())
        except FileNotFoundError:
            return {}
        entries = {e["image_id"]: CacheEntry(**e) for e in raw.get("images", [])}
        return {k: e for k, e in entries.items() if (self._images / k).is_file()}

    def _save(self) -> None:
        tmp = self._index_path.with_name(f".index.{secrets.token_hex(4)}")
        tmp.write_text(json.dumps({"images": [asdict(e) for e in self.entries()]}))
        tmp.rename(self._index_path)


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def _check_id(image_id: str) -> None:
    if not image_id or "/" in image_id or image_id.startswith(".") or len(image_id) > 128:
        raise InvalidInput("bad image id", [Problem("image_id", f"{image_id!r} not allowed")])
