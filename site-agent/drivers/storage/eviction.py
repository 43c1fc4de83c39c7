"""Which cached images to evict so a new one fits under the image cache's cap.

One rule for every storage driver (``LocalStorage`` and ``FakeStorage`` both call it, so
they cannot drift): least recently used first, never a protected image (one backing a root
disk, one the caller pinned, the one being added); all or nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from atoll.site_agent.drivers.storage.errors import ImageCacheFull


@dataclass(frozen=True)
class CacheUse:
    image_id: str
    allocated_bytes: int
    last_used: float


def victims(
    cached: Iterable[CacheUse],
    protected: Collection[str],
    *,
    image_id: str,
    incoming_bytes: int,
    cap_bytes: int,
) -> list[str]:
    """The images to evict (least recently used first) so ``incoming_bytes`` more fit under
    ``cap_bytes``; ``[]`` when they fit already or there is no cap (``cap_bytes`` 0).

    Raises :class:`ImageCacheFull` (naming the cap) when evicting every unprotected image
    would not be enough; the caller then evicts nothing.
    """
    if cap_bytes <= 0:
        return []
    entries = [c for c in cached if c.image_id != image_id]
    excess = sum(c.allocated_bytes for c in entries) + incoming_bytes - cap_bytes
    if excess <= 0:
        return []
    chosen: list[str] = []
    for entry in sorted(entries, key=lambda c: (c.last_used, c.image_id)):
        if excess <= 0:
            break
        if entry.image_id in protected:
            continue
        chosen.append(entry.image_id)
        excess -= entry.allocated_bytes
    if excess > 0:
        held = sorted(c.image_id for c in entries if c.image_id in protected)
        raise ImageCacheFull(
            f"image {image_id} ({incoming_bytes} bytes) does not fit under the image cache's "
            f"cap of {cap_bytes} bytes: the images servers use ({', '.join(held) or 'none'}) "
            "cannot be evicted; raise the cap (image_cache_max_gb) or delete servers"
        )
    return chosen
