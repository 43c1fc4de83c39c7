"""Store backends for the contract suite: each gives fresh stores and reopens the same data.

``timed`` is the memory store seen through :class:`~atoll.hub.store.timed.TimedStore` (what
the hub's app uses), so the wrapper is held to the same contract.

``backend.open()`` returns a new handle on the same data (for SQLite another connection to
the same file, as a second hub process would have; for etcd another client), so races and
persistence are tested across handles, not inside one object.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from atoll.hub.store.base import Store
from atoll.hub.store.etcd import EtcdStore
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.sqlite import SQLiteStore
from atoll.hub.store.timed import TimedStore
from atoll.testbed.services.etcd import EtcdCluster


@dataclass
class Durations:
    """A :class:`~atoll.hub.store.timed.StoreObserver` that keeps what it is told."""

    seen: list[tuple[str, str, float]] = field(default_factory=list)  # backend, op, seconds

    def store_timer(self, backend: str, operation: str) -> Callable[[float], None]:
        return lambda seconds: self.seen.append((backend, operation, seconds))


@dataclass
class Backend:
    name: str
    path: Path | None = None
    cluster: EtcdCluster | None = None
    prefix: str = "/atoll/"
    history: int = 1000
    opened: list[Store] = field(default_factory=list)
    _memory: MemoryStore | None = None

    def open(self) -> Store:
        store: Store
        if self.name in ("memory", "timed"):
            # One process, one object: every "handle" is the same store.
            self._memory = self._memory or MemoryStore()
            if self.name == "timed":  # what the hub's app wraps its store in
                return TimedStore(self._memory, Durations())
            return self._memory
        if self.name == "sqlite":
            assert self.path is not None
            store = SQLiteStore(self.path, history=self.history, poll_interval=0.05)
        else:
            assert self.cluster is not None
            store = EtcdStore(self.cluster.endpoints, prefix=self.prefix, timeout=5.0)
        self.opened.append(store)
        return store

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()
        if self._memory is not None:
            await self._memory.close()


@pytest.fixture(scope="module")
def shared_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One etcd member for the module; each test gets its own key prefix in it."""
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd") / "etcd", size=1).start()
    try:
        yield cluster
    finally:
        cluster.stop()


BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("timed", id="timed"),
    pytest.param("sqlite", id="sqlite", marks=pytest.mark.integration),
    pytest.param("etcd", id="etcd", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async for b in _backend(request, tmp_path):
        yield b


@pytest.fixture(params=[p for p in BACKENDS if p.id in ("sqlite", "etcd")])
async def persistent_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Backend]:
    """The backends that keep data when every handle is closed."""
    async for b in _backend(request, tmp_path):
        yield b


async def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    name = request.param
    b = Backend(name)
    if name == "sqlite":
        b.path = tmp_path / "hub.db"
    elif name == "etcd":
        b.cluster = request.getfixturevalue("shared_etcd")
        b.prefix = f"/atoll-test-{secrets.token_hex(4)}/"
    try:
        yield b
    finally:
        await b.close_all()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()
