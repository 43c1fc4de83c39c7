"""The fleet overview in one answer: counts by state, a region grid, map points and a page
of sites, small enough for a thousand sites (a row is a handful of short fields; the
aggregates cover the whole fleet, the rows only the page asked for)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from atoll.hub.sites.registry import SITE_KIND, STATES
from atoll.hub.store.base import ListQuery, Store
from atoll.jsonbody import JSON

PAGE = 1000  # sites read from the store at a time


def row(site: JSON) -> dict[str, Any]:
    """What the overview shows of one site (also what a live update carries)."""
    sync = site.get("sync") or {}
    heard = sync.get("last_heard")
    return {
        "name": site["name"],
        "region": site.get("region", "default"),
        "state": site.get("state"),
        "last_seen": site.get("last_seen"),
        "heard": round(heard) if isinstance(heard, int | float) else None,  # epoch seconds
        "lag": sync.get("pending_changes"),
        "outbox": max(0, int(sync.get("sent_seq") or 0) - int(sync.get("acked_seq") or 0)),
    }  # where it is: the overview's ``points``


def point(site: JSON) -> list[Any]:
    """A site on the map: name, latitude, longitude, state."""
    where = site["location"]
    return [site["name"], round(where["latitude"], 4), round(where["longitude"], 4),
            site.get("state")]  # fmt: skip


async def all_sites(store: Store) -> list[JSON]:
    sites: list[JSON] = []
    marker = None
    while True:
        page = await store.list(ListQuery(SITE_KIND, limit=PAGE, marker=marker))
        sites.extend(r.value for r in page.items)
        if page.next_marker is None:
            return sites
        marker = page.next_marker


def overview(
    sites: list[JSON], limit: int, marker: str | None, state: str | None, region: str | None
) -> dict[str, Any]:
    """Aggregates over ``sites`` and the page of rows after ``marker`` (by name) that match
    ``state`` and ``region``."""
    counts = Counter(str(s.get("state")) for s in sites)
    grid: dict[str, Counter[str]] = {}
    for s in sites:
        grid.setdefault(s.get("region", "default"), Counter())[str(s.get("state"))] += 1
    chosen = [
        s for s in sites
        if (state is None or s.get("state") == state)
        and (region is None or s.get("region", "default") == region)
        and (marker is None or s["name"] > marker)
    ]  # fmt: skip
    chosen.sort(key=lambda s: str(s["name"]))
    page = chosen[:limit]
    return {
        "total": len(sites),
        "counts": {name: counts.get(name, 0) for name in STATES},
        "regions": [{"region": r, "counts": dict(c)} for r, c in sorted(grid.items())],
        "points": [point(s) for s in sites if s.get("location")],
        "sites": [row(s) for s in page],
        "next_marker": page[-1]["name"] if len(chosen) > limit else None,
    }
