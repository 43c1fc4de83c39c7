"""``records.update``: without If-Match a write landing between the read and the swap (a
site's heartbeat on its record) is read again, not a 409; with If-Match it stays a 409."""

from __future__ import annotations

from typing import Any

import pytest

from atoll.errors import StaleRevision
from atoll.hub.api import records
from atoll.hub.store.base import ListQuery, Page, Record
from atoll.hub.store.memory import MemoryStore


class RacedStore(MemoryStore):
    """A MemoryStore where another writer sets ``last_seen`` just before each of the first
    ``races`` swaps."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    async def put(self, kind: str, key: str, value: Any, expect_revision: int | None = None
                  ) -> Record:  # fmt: skip
        if expect_revision is not None and self.races > 0:
            self.races -= 1
            current = await self.get(kind, key)
            await super().put(kind, key, {**current.value, "last_seen": f"beat-{self.races}"})
        return await super().put(kind, key, value, expect_revision=expect_revision)


async def test_an_update_without_if_match_is_applied_over_a_concurrent_write() -> None:
    store = RacedStore(races=0)
    await store.put("site", "edge-1", {"name": "edge-1", "labels": {}, "last_seen": None})
    store.races = 2
    updated = await records.update(store, "site", "edge-1", {"labels": {"zone": "a"}}, None)
    assert updated.value["labels"] == {"zone": "a"}
    assert updated.value["last_seen"] == "beat-0"  # the other writer's change is kept


async def test_an_update_with_if_match_stays_a_conflict_when_the_record_moved() -> None:
    store = RacedStore(races=0)
    first = await store.put("site", "edge-1", {"name": "edge-1", "labels": {}})
    store.races = 1
    with pytest.raises(StaleRevision):
        await records.update(store, "site", "edge-1", {"labels": {"zone": "a"}}, first.revision)
    assert (await store.get("site", "edge-1")).value["labels"] == {}


async def test_an_update_gives_up_after_its_attempts() -> None:
    store = RacedStore(races=0)
    await store.put("site", "edge-1", {"name": "edge-1", "labels": {}})
    store.races = records.UPDATE_ATTEMPTS
    with pytest.raises(StaleRevision):
        await records.update(store, "site", "edge-1", {"labels": {"zone": "a"}}, None)


class CountingStore(MemoryStore):
    """A MemoryStore that counts the records its listings hand back."""

    def __init__(self) -> None:
        super().__init__()
        self.read = 0

    async def list(self, query: ListQuery) -> Page:
        page = await super().list(query)
        self.read += len(page.items)
        return page


async def test_a_union_page_reads_only_the_alternatives_in_key_order_across_pages() -> None:
    """A tenant's image listing: its project's and public ones, each read by the store's
    filter, none of another project's private ones (10,000 of them here) read at all."""
    store = CountingStore()
    for i in range(10_000):
        await store.put("image", f"k{i:05d}", {"project_id": "other", "visibility": "private"})
    mine = {f"k{i:05d}" for i in range(3, 10_000, 1000)}
    public = {f"k{i:05d}" for i in range(7, 10_000, 1500)} | {"k00003"}  # one is both
    for key in sorted(mine | public):
        value = {"project_id": "me" if key in mine else "other",
                 "visibility": "public" if key in public else "private"}  # fmt: skip
        await store.put("image", key, value)
    store.read = 0
    alternatives = [{"visibility": "public"}, {"project_id": "me"}]
    seen: list[str] = []
    marker = None
    while True:
        page = await records.union_page(store, "image", 4, marker, alternatives)
        seen += [r.key for r in page.items]
        if page.next_marker is None:
            break
        marker = page.next_marker
    assert seen == sorted(mine | public)  # each once, in key order
    assert store.read <= 3 * len(mine | public)  # not the 10,000 others
    private = await records.union_page(store, "image", 100, None, alternatives,
                                       {"visibility": "private"})  # fmt: skip
    assert {r.key for r in private.items} == mine - public  # the public alternative skipped
