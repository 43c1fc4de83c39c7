"""An in-memory :class:`~atoll.hub.store.base.Store`.

It documents the semantics of real stores (read :mod:`.base` first) in the fewest lines,
and serves unit tests of the layers above the store. Nothing is persisted.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
from collections.abc import AsyncIterator, Sequence

from atoll.errors import NotFound, StaleRevision
from atoll.hub.store.base import (
    Change,
    Delete,
    ListQuery,
    Page,
    Put,
    Record,
    Write,
    change_filter,
)
from atoll.hub.store.follow import watch
from atoll.hub.store.names import check_writes
from atoll.hub.store.query import check_query, matches
from atoll.jsonbody import JSON


class MemoryStore:
    backend = "memory"

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str], Record] = {}
        self._log: list[Change] = []
        self._rev = 0
        self._changed = asyncio.Condition()

    async def get(self, kind: str, key: str) -> Record:
        try:
            return copy.deepcopy(self._objects[kind, key])
        except KeyError:
            raise NotFound(f"{kind} {key!r} does not exist") from None

    def _check(self, kind: str, key: str, expect_revision: int | None) -> Record | None:
        current = self._objects.get((kind, key))
        if expect_revision is None:
            return current
        if current is None and expect_revision > 0:
            raise NotFound(f"{kind} {key!r} does not exist")
        have = current.revision if current else 0
        if have != expect_revision:
            raise StaleRevision(
                f"{kind} {key!r} is at revision {have}, not {expect_revision}: "
                "read it again and retry"
            )
        return current

    async def put(
        self, kind: str, key: str, value: JSON, *, expect_revision: int | None = None
    ) -> Record:
        await self.commit([Put(kind, key, value, expect_revision)])
        return copy.deepcopy(self._objects[kind, key])

    async def delete(self, kind: str, key: str, *, expect_revision: int | None = None) -> int:
        return await self.commit([Delete(kind, key, expect_revision)])

    async def commit(self, writes: Sequence[Write]) -> int:
        check_writes(writes)
        for write in writes:  # every check before any write: all or nothing
            current = self._check(write.kind, write.key, write.expect_revision)
            if isinstance(write, Delete) and current is None:
                raise NotFound(f"{write.kind} {write.key!r} does not exist")
        for write in writes:
            self._rev += 1
            if isinstance(write, Delete):
                del self._objects[write.kind, write.key]
                self._log.append(Change(self._rev, write.kind, write.key, "delete", None))
                continue
            current = self._objects.get((write.kind, write.key))
            created = current.created_revision if current else self._rev
            value = copy.deepcopy(write.value)
            self._objects[write.kind, write.key] = Record(
                write.kind, write.key, value, self._rev, created
            )
            self._log.append(Change(self._rev, write.kind, write.key, "put", copy.deepcopy(value)))
        async with self._changed:
            self._changed.notify_all()
        return self._rev

    async def list(self, query: ListQuery) -> Page:
        check_query(query)
        keys = sorted(k for (kind, k) in self._objects if kind == query.kind)
        items: builtins.list[Record] = []
        for key in keys:
            if query.marker is not None and key <= query.marker:
                continue
            if not key.startswith(query.key_prefix):
                continue
            record = self._objects[query.kind, key]
            if matches(record.value, query.filters):
                items.append(copy.deepcopy(record))
            if len(items) > query.limit:
                break
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page(items, items[-1].key if more and items else None)

    async def changes(
        self, since: int, limit: int = 1000, *, kind: str | None = None, key_prefix: str = ""
    ) -> builtins.list[Change]:
        keep = change_filter(kind, key_prefix)
        found = [
            c for c in self._log if c.revision > since and (keep is None or keep(c.kind, c.key))
        ]
        return [copy.deepcopy(c) for c in found[:limit]]

    def watch(self, since: int, *, kind: str | None = None) -> AsyncIterator[Change]:
        return watch(self.changes, self._wait_past, since, kind=kind, revision=self.revision)

    async def _wait_past(self, revision: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._rev > revision)

    async def revision(self) -> int:
        return self._rev

    async def close(self) -> None:
        return None
