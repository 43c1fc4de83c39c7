"""The one ``watch`` over a backend's primitives, and the shared poller that wakes watchers."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import pytest

from atoll.errors import TemporaryError
from atoll.hub.store.base import Change
from atoll.hub.store.follow import Follower, watch
from atoll.hub.store.memory import MemoryStore

pytestmark = pytest.mark.unit


async def test_watch_reads_batch_after_batch_then_waits_for_news() -> None:
    store = MemoryStore()
    made = [(await store.put("site", f"s{i}", {"i": i})).revision for i in range(5)]
    follow = watch(partial(store.changes, limit=2), store._wait_past, 0)
    seen = [(await asyncio.wait_for(anext(follow), 10)).revision for _ in range(5)]
    pending = asyncio.ensure_future(anext(follow))
    await asyncio.sleep(0)
    assert seen == made and not pending.done()  # caught up: waiting for the store to move
    news = await store.put("site", "new", {})
    assert (await asyncio.wait_for(pending, 10)).revision == news.revision
    await follow.aclose()


async def test_follower_wakes_waiters_and_logs_a_failing_poll_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "atoll.hub.store.follow")
    calls = 0

    async def poll(since: int) -> int:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise TemporaryError("etcd is away", delay=0.01)
        return 7

    follower = Follower(poll, fallback=3600.0, retry=0.01)
    try:
        await asyncio.wait_for(follower.wait_past(6), 30)  # woken by the poll, not the fallback
    finally:
        await follower.close()
    logged = [r.getMessage() for r in caplog.records if r.name == "atoll.hub.store.follow"]
    assert logged == [
        "store follower failed, will retry: etcd is away",
        "store follower recovered after 3 failures",
    ]


async def test_a_waiter_stopped_as_the_store_moves_ends() -> None:
    """A watcher being stopped at the moment a write wakes it (what a hub's shutdown does:
    the last writes and the cancellation come together) ends; it does not wait on."""

    async def poll(since: int) -> int:
        await asyncio.sleep(3600)
        return since

    follower = Follower(poll, fallback=3600)
    for revision in range(1, 21):
        waiter = asyncio.ensure_future(follower.wait_past(revision - 1))
        for _ in range(3):
            await asyncio.sleep(0)  # waiting on the condition now
        woken = asyncio.ensure_future(follower.saw(revision))
        await asyncio.sleep(0)  # the notify is delivered ...
        waiter.cancel()  # ... and the stop comes with it
        done, _ = await asyncio.wait({waiter}, timeout=10)
        assert waiter in done and waiter.cancelled(), f"round {revision}: the waiter went on"
        await woken
    await follower.close()


async def test_a_watch_of_one_kind_waits_past_the_others_writes_not_past_its_own() -> None:
    """Its batches are empty while other kinds are written: it must wait past the store's
    revision then, not past its own last change (the store is past that: it would spin)."""
    store = MemoryStore()
    reads: list[int] = []

    async def changes(since: int, *, kind: str | None = None) -> list[Change]:
        reads.append(since)
        return await store.changes(since, limit=2, kind=kind)

    mine = await store.put("flavor", "f", {})
    for i in range(5):
        await store.put("site", f"s{i}", {})
    follow = watch(changes, store._wait_past, 0, kind="flavor", revision=store.revision)
    assert (await asyncio.wait_for(anext(follow), 10)).revision == mine.revision
    pending = asyncio.ensure_future(anext(follow))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not pending.done() and len(reads) == 2  # the batch, one empty read: then it waits
    assert reads[-1] == mine.revision
    await store.put("site", "other", {})
    for _ in range(10):
        await asyncio.sleep(0)
    assert not pending.done() and len(reads) == 3 and reads[-1] == await store.revision() - 1
    news = await store.put("flavor", "g", {})
    assert (await asyncio.wait_for(pending, 10)).revision == news.revision
    await follow.aclose()
