"""``records.update``: without If-Match a write landing between the read and the swap (a
site's heartbeat on its record) is read again, not a 409; with If-Match it stays a 409."""

from __future__ import annotations

from typing import Any

import pytest

from atoll.errors import StaleRevision
from atoll.hub.api import records
from atoll.hub.store.base import Record
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
