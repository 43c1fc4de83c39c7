"""A timed store reports every operation's duration, by backend, answers or errors alike."""

from __future__ import annotations

import asyncio

import pytest

from atoll.errors import NotFound, StaleRevision
from atoll.hub.store.base import ListQuery, Put
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.timed import TimedStore
from tests.hub.store.conftest import Durations


async def test_each_operation_is_timed_once_under_its_name() -> None:
    durations = Durations()
    store = TimedStore(MemoryStore(), durations)
    assert store.backend == "memory"
    first = await store.put("thing", "a", {"n": 1})
    await store.get("thing", "a")
    with pytest.raises(NotFound):  # an error is an answer too: timed
        await store.get("thing", "missing")
    with pytest.raises(StaleRevision):
        await store.put("thing", "a", {"n": 2}, expect_revision=first.revision + 5)
    await store.commit([Put("thing", "b", {"n": 3})])
    page = await store.list(ListQuery("thing"))
    assert [r.key for r in page.items] == ["a", "b"]
    await store.changes(0)
    await store.delete("thing", "b")
    assert await store.revision() == 3
    watched = store.watch(0)  # not timed: it lasts as long as its reader
    assert (await asyncio.wait_for(anext(watched), 5)).key == "a"
    await watched.aclose()  # type: ignore[attr-defined]
    ops = [op for backend, op, _ in durations.seen if backend == "memory"]
    assert ops == ["put", "get", "get", "put", "commit", "list", "changes", "delete", "revision"]
    assert all(seconds >= 0 for _, _, seconds in durations.seen)
