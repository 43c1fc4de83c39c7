"""SQLiteStore against the reference MemoryStore, on random sequences of operations.

Both start empty and give every successful write the next revision, so after any sequence
of puts, deletes (with and without compare-and-swap), gets, lists and changes() the two must
answer identically: the same records, the same errors, the same history.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from atoll.errors import AtollError
from atoll.hub.store.base import ListQuery, Store
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.sqlite import SQLiteStore

pytestmark = pytest.mark.integration

KINDS = st.sampled_from(["site", "flavor"])
KEYS = st.sampled_from(["a", "b", "c", "é"])
VALUES = st.fixed_dictionaries(
    {}, optional={"region": st.sampled_from(["east", "west"]), "n": st.integers(0, 2)}
)
EXPECT = st.one_of(st.none(), st.just(0), st.integers(1, 40))
FILTERS = st.fixed_dictionaries(
    {}, optional={"region": st.sampled_from(["east", "west", None]), "n": st.integers(0, 2)}
)


class SameAsMemory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="atoll-model-"))
        self.model: Store = MemoryStore()
        self.real: Store = SQLiteStore(self.dir / "hub.db", history=20, durable=False)
        self.revisions: list[int] = [0]

    def both(self, op: Callable[[Store], Awaitable[Any]]) -> Any:
        want = self._outcome(op, self.model)
        got = self._outcome(op, self.real)
        assert got == want
        return want

    def _outcome(self, op: Callable[[Store], Awaitable[Any]], store: Store) -> Any:
        try:
            return self.loop.run_until_complete(op(store))
        except AtollError as exc:
            return type(exc).__name__

    @rule(kind=KINDS, key=KEYS, value=VALUES, expect=EXPECT)
    def put(self, kind: str, key: str, value: dict[str, Any], expect: int | None) -> None:
        self.both(lambda s: s.put(kind, key, value, expect_revision=expect))

    @rule(kind=KINDS, key=KEYS, expect=EXPECT)
    def delete(self, kind: str, key: str, expect: int | None) -> None:
        self.both(lambda s: s.delete(kind, key, expect_revision=expect))

    @rule(kind=KINDS, key=KEYS)
    def get(self, kind: str, key: str) -> None:
        self.both(lambda s: s.get(kind, key))

    @rule(kind=KINDS, filters=FILTERS, limit=st.integers(1, 3), marker=st.none() | KEYS)
    def list(self, kind: str, filters: dict[str, Any], limit: int, marker: str | None) -> None:
        self.both(lambda s: s.list(ListQuery(kind, filters, limit, marker)))

    @rule(since=st.integers(0, 40), limit=st.integers(1, 5))
    def changes(self, since: int, limit: int) -> None:
        # The model keeps all history, SQLite the last 20 writes: compare what SQLite has.
        real = self._outcome(lambda s: s.changes(since, limit), self.real)
        if real == "Compacted":
            assert since < self.loop.run_until_complete(self.real.revision()) - 20
        else:
            assert real == self._outcome(lambda s: s.changes(since, limit), self.model)

    @invariant()
    def same_revision(self) -> None:
        self.both(lambda s: s.revision())

    def teardown(self) -> None:
        self.loop.run_until_complete(self.real.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


SameAsMemory.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    # Shrinking a failure runs hundreds of store pairs (minutes on a shared machine): report
    # the failing steps as found instead; they are at most 30 and printed in order.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
test_sqlite_store_behaves_like_the_memory_store = SameAsMemory.TestCase
