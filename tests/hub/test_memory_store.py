"""The in-memory store's semantics (the contract the real backends' suite also checks)."""

from __future__ import annotations

import asyncio

import pytest

from atoll.errors import NotFound, StaleRevision
from atoll.hub.store.base import ListQuery
from atoll.hub.store.memory import MemoryStore


async def test_revisions_cas_and_changes() -> None:
    store = MemoryStore()
    a = await store.put("project", "a", {"name": "a"}, expect_revision=0)
    with pytest.raises(StaleRevision):
        await store.put("project", "a", {"name": "a2"}, expect_revision=0)
    b = await store.put("project", "a", {"name": "a2"}, expect_revision=a.revision)
    assert b.revision > a.revision and b.created_revision == a.revision
    with pytest.raises(StaleRevision):
        await store.put("project", "a", {"name": "a3"}, expect_revision=a.revision)
    rev = await store.delete("project", "a")
    with pytest.raises(NotFound):
        await store.get("project", "a")
    ops = [(c.op, c.revision) for c in await store.changes(0)]
    assert ops == [("put", a.revision), ("put", b.revision), ("delete", rev)]


async def test_list_filters_and_pages() -> None:
    store = MemoryStore()
    for i in range(5):
        await store.put("site", f"s{i}", {"region": "east" if i % 2 else "west"})
    page = await store.list(ListQuery("site", limit=2))
    assert [r.key for r in page.items] == ["s0", "s1"] and page.next_marker == "s1"
    page = await store.list(ListQuery("site", limit=2, marker="s3"))
    assert [r.key for r in page.items] == ["s4"] and page.next_marker is None
    east = await store.list(ListQuery("site", filters={"region": "east"}))
    assert [r.key for r in east.items] == ["s1", "s3"]


async def test_watch_sees_old_then_new_changes() -> None:
    store = MemoryStore()
    await store.put("flavor", "f1", {})
    seen: list[str] = []

    async def consume() -> None:
        async for change in store.watch(0):
            seen.append(change.key)
            if len(seen) == 2:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    await store.put("flavor", "f2", {})
    await asyncio.wait_for(task, 2)
    assert seen == ["f1", "f2"]
