"""The ``Store`` protocol every hub backend implements, and its value types.

Semantics (one contract test suite checks them against every backend):

- Objects are JSON-able dicts stored by ``kind`` (``"project"``, ``"user"``, ``"site"``,
  ...) and ``key`` (unique within the kind). A kind is non-empty and has no ``/``; a key is
  non-empty; neither holds NUL (:mod:`.names`: ``put`` refuses others with InvalidInput).
- Every write (put or delete) gets a new **store-wide** revision, strictly increasing.
  A record carries the revision of its last write (``revision``) and of its creation
  (``created_revision``).
- Compare-and-swap: ``put(..., expect_revision=R)`` succeeds only if the object's current
  revision is ``R``; ``expect_revision=0`` means "must not exist yet" (create). A lost race
  raises :class:`~atoll.errors.StaleRevision` (HTTP 409); a CAS on a missing object with
  ``R > 0`` raises :class:`~atoll.errors.NotFound`.
- ``commit(writes)`` applies several puts and deletes (:class:`Put`, :class:`Delete`) as
  one transaction: each checks its ``expect_revision`` as ``put``/``delete`` do, and the
  first check that fails raises (StaleRevision or NotFound) with nothing written; readers
  see all of a commit or none of it. Its writes get revisions above every earlier write (one
  each in order, or, on etcd, one shared revision) and it returns the highest. This is how
  an object and those that hang on it (a project and its role assignments) are written or
  removed together, and how a write is made conditional on another object's revision.
  etcd caps the writes of one commit (``--max-txn-ops``, 128 by default; more answer
  PayloadTooLarge).
- ``list`` returns objects of one kind in key order (by code point), filtered by equality
  on top-level fields with scalar values (``None`` also matches a missing field; a string
  never equals a number), ``limit`` (>= 1) at a time; ``marker`` is the last key of the
  previous page; ``key_prefix`` keeps the keys that start with it, read as a range of keys
  (one site's objects, not a filter over every site's). A bad query is InvalidInput
  (:mod:`.query`).
- ``changes(since=R)`` returns every write with revision > R in revision order (deletes
  included, with ``value=None``), which is what sync streams from. Backends may compact
  history older than what they keep; asking for compacted history raises
  :class:`Compacted` so the caller resyncs from a full listing. ``kind`` (and within it
  ``key_prefix``) keeps only the writes of that kind whose key starts so: one site's share
  of the history, read without decoding every other write's value (the limit counts the
  writes kept).
- ``watch(since=R)`` is an async iterator over the same changes, then new ones as they
  happen, until the consumer stops iterating.
- Blocking libraries run off the event loop; every method is a coroutine.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from atoll.errors import Conflict, InvalidInput
from atoll.jsonbody import JSON


class Compacted(Conflict):
    """The history asked for is gone; list everything and continue from ``revision``."""

    code = "compacted"

    def __init__(self, message: str, revision: int) -> None:
        super().__init__(message)
        self.revision = revision


@dataclass(frozen=True)
class Record:
    kind: str
    key: str
    value: JSON
    revision: int
    created_revision: int


@dataclass(frozen=True)
class Change:
    revision: int
    kind: str
    key: str
    op: Literal["put", "delete"]
    value: JSON | None


@dataclass(frozen=True)
class Page:
    items: list[Record]
    next_marker: str | None = None  # pass as ``marker`` to get the next page


@dataclass(frozen=True)
class ListQuery:
    kind: str
    filters: Mapping[str, Any] = field(default_factory=dict)
    limit: int = 100
    marker: str | None = None
    key_prefix: str = ""


@dataclass(frozen=True)
class Put:
    kind: str
    key: str
    value: JSON
    expect_revision: int | None = None


@dataclass(frozen=True)
class Delete:
    kind: str
    key: str
    expect_revision: int | None = None


Write = Put | Delete

# One encoder for every write (json.dumps with options would build a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def change_filter(kind: str | None, key_prefix: str) -> Callable[[str, str], bool] | None:
    """Whether a write of (kind, key) is one ``changes(kind=, key_prefix=)`` keeps; None for
    every write. A ``key_prefix`` is within a kind: without one it is a programming error."""
    if kind is None:
        if key_prefix:
            raise ValueError("changes(): key_prefix needs a kind")
        return None
    return lambda k, key: k == kind and key.startswith(key_prefix)


def encode_value(kind: str, key: str, value: JSON) -> str:
    """``value`` as the compact JSON text a backend stores; InvalidInput if it is not JSON."""
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{kind} {key!r} cannot be stored as JSON: {exc}") from exc


class Store(Protocol):
    backend: str  # the backend's name in metrics and logs: "sqlite", "etcd", "memory"

    async def get(self, kind: str, key: str) -> Record:
        """The object, or NotFound."""
        ...

    async def put(
        self, kind: str, key: str, value: JSON, *, expect_revision: int | None = None
    ) -> Record:
        """Create or replace; with ``expect_revision``, only if the revision matches."""
        ...

    async def delete(self, kind: str, key: str, *, expect_revision: int | None = None) -> int:
        """Remove the object (NotFound if absent); returns the revision of the delete."""
        ...

    async def commit(self, writes: Sequence[Write]) -> int:
        """All of ``writes`` or none (see the module doc); the revision of the last one."""
        ...

    async def list(self, query: ListQuery) -> Page: ...

    async def changes(
        self, since: int, limit: int = 1000, *, kind: str | None = None, key_prefix: str = ""
    ) -> builtins.list[Change]: ...

    def watch(self, since: int, *, kind: str | None = None) -> AsyncIterator[Change]:
        """Every change after ``since`` in revision order, then new ones as they happen; with
        ``kind``, that kind's only (the others are not read or decoded, as ``changes``)."""
        ...

    async def revision(self) -> int:
        """The store-wide revision of the latest write (0 for an empty store)."""
        ...

    async def close(self) -> None: ...
