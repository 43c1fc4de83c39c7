"""How long each store operation takes: a :class:`Store` around another that reports it.

The hub wraps its store once (``build_app``) in a :class:`TimedStore` that tells a
:class:`StoreObserver` (the hub's metrics, ``atoll_hub_store_operation_duration_seconds``)
the seconds every ``get``, ``put``, ``delete``, ``commit``, ``list``, ``changes`` and
``revision`` took, failed ones included (a NotFound or a lost compare-and-swap is an answer
the store gave). ``watch`` is not timed: it lasts as long as its consumer reads.

The observer is asked once per operation, at construction, for the function that records a
duration (a Prometheus histogram child's ``observe``), so a call costs two clock reads and
that function, and no label lookup. The store layer defines the observer and never imports
the layers above it (:class:`atoll.background.LoopObserver` is the same hook for loops).
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from time import perf_counter
from typing import Any, Protocol, TypeVar

from atoll.hub.store.base import Change, ListQuery, Page, Record, Store, Write
from atoll.jsonbody import JSON

T = TypeVar("T")
Observe = Callable[[float], None]  # records one duration, in seconds


class StoreObserver(Protocol):
    """Told how long the store's operations take (a daemon's metrics)."""

    def store_timer(self, backend: str, operation: str) -> Observe:
        """The function to call with each ``operation``'s duration on ``backend``."""
        ...


async def _timed(observe: Observe, call: Awaitable[T]) -> T:
    started = perf_counter()
    try:
        return await call
    finally:
        observe(perf_counter() - started)


class TimedStore:
    """``store``, with each operation's duration told to ``observer`` (module docstring)."""

    def __init__(self, store: Store, observer: StoreObserver) -> None:
        self.inner = store
        self.backend = store.backend
        timer = observer.store_timer
        self._get = timer(self.backend, "get")
        self._put = timer(self.backend, "put")
        self._delete = timer(self.backend, "delete")
        self._commit = timer(self.backend, "commit")
        self._list = timer(self.backend, "list")
        self._changes = timer(self.backend, "changes")
        self._revision = timer(self.backend, "revision")

    # Plain methods returning the timed coroutine: one coroutine per call, not two.
    def get(self, kind: str, key: str) -> Coroutine[Any, Any, Record]:
        return _timed(self._get, self.inner.get(kind, key))

    def put(
        self, kind: str, key: str, value: JSON, *, expect_revision: int | None = None
    ) -> Coroutine[Any, Any, Record]:
        return _timed(self._put, self.inner.put(kind, key, value, expect_revision=expect_revision))

    def delete(
        self, kind: str, key: str, *, expect_revision: int | None = None
    ) -> Coroutine[Any, Any, int]:
        return _timed(self._delete, self.inner.delete(kind, key, expect_revision=expect_revision))

    def commit(self, writes: Sequence[Write]) -> Coroutine[Any, Any, int]:
        return _timed(self._commit, self.inner.commit(writes))

    def list(self, query: ListQuery) -> Coroutine[Any, Any, Page]:
        return _timed(self._list, self.inner.list(query))

    def changes(
        self, since: int, limit: int = 1000, *, kind: str | None = None, key_prefix: str = ""
    ) -> Coroutine[Any, Any, builtins.list[Change]]:
        return _timed(
            self._changes, self.inner.changes(since, limit, kind=kind, key_prefix=key_prefix)
        )

    def watch(self, since: int, *, kind: str | None = None) -> AsyncIterator[Change]:
        return self.inner.watch(since, kind=kind)

    def revision(self) -> Coroutine[Any, Any, int]:
        return _timed(self._revision, self.inner.revision())

    async def close(self) -> None:
        await self.inner.close()
