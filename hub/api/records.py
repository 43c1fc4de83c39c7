"""Store calls every resource makes, with the API's messages: create-once, read, CAS update.

Objects are keyed by name within their kind. Creating uses ``expect_revision=0`` so two
callers racing for one name get one 201 and one 409. Updates and deletes pass the revision
from ``If-Match`` through to the store's compare-and-swap (a stale one is a 409).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from atoll.errors import Conflict, NotFound, StaleRevision
from atoll.hub.store.base import ListQuery, Page, Record, Store
from atoll.jsonbody import JSON
from atoll.timestamps import now_iso

log = logging.getLogger(__name__)


async def create(store: Store, kind: str, key: str, value: JSON) -> Record:
    try:
        record = await store.put(kind, key, value, expect_revision=0)
    except StaleRevision as exc:
        raise Conflict(f"{kind.replace('_', ' ')} {key} already exists") from exc
    created(kind, key, value)
    return record


def created(kind: str, key: str, value: JSON) -> None:
    """Log a new object once (for the creations that do not go through :func:`create`)."""
    obj_id = value.get("id", key)
    log.info("created %s %s (id %s)", kind, key, obj_id, extra={"kind": kind, "id": obj_id})


async def fetch(store: Store, kind: str, key: str) -> Record:
    try:
        return await store.get(kind, key)
    except NotFound as exc:
        raise NotFound(f"{kind.replace('_', ' ')} {key} does not exist") from exc


UPDATE_ATTEMPTS = 5
"""How often an update without If-Match is tried against concurrent writes."""


async def update(
    store: Store, kind: str, key: str, changes: JSON, expect_revision: int | None
) -> Record:
    """Apply ``changes`` to the stored value with a compare-and-swap (If-Match or the read).

    With If-Match, a record that moved on is the caller's 409. Without it the caller asked
    for its fields set whatever the revision, so a write that lands between the read and
    the swap (a site's heartbeat on its record) is read again and ``changes`` applied on top
    of it, up to :data:`UPDATE_ATTEMPTS` times: nothing of the other write is lost."""
    retries = UPDATE_ATTEMPTS - 1 if expect_revision is None else 0
    for _ in range(retries):
        with contextlib.suppress(StaleRevision):
            return await _swap(store, kind, key, changes, expect_revision)
    return await _swap(store, kind, key, changes, expect_revision)


async def _swap(
    store: Store, kind: str, key: str, changes: JSON, expect_revision: int | None
) -> Record:
    """One read and compare-and-swap of :func:`update` (StaleRevision: the record moved on)."""
    current = await fetch(store, kind, key)
    if expect_revision is not None and expect_revision != current.revision:
        raise StaleRevision(
            f"{kind.replace('_', ' ')} {key} is at revision {current.revision}, not "
            f"{expect_revision}: read it again and retry"
        )
    value = {**current.value, **changes, "updated_at": now_iso()}
    return await store.put(kind, key, value, expect_revision=current.revision)


async def remove(store: Store, kind: str, key: str, expect_revision: int | None) -> None:
    try:
        gone = await store.get(kind, key)
        await store.delete(kind, key, expect_revision=expect_revision)
    except NotFound as exc:
        raise NotFound(f"{kind.replace('_', ' ')} {key} does not exist") from exc
    obj_id = gone.value.get("id", key)
    log.info("deleted %s %s (id %s)", kind, key, obj_id, extra={"kind": kind, "id": obj_id})


async def visible_page(
    store: Store,
    kind: str,
    limit: int,
    marker: str | None,
    visible: Callable[[Record], bool],
    filters: JSON | None = None,
) -> Page:
    """A page of the objects ``visible`` lets through, reading the store page by page, each
    store page one longer than ``limit`` (so a page that fills knows whether more follow) and
    no longer than 1,000: a request reads about what it answers, not the whole kind."""
    items: list[Record] = []
    size = min(limit + 1, 1000)
    while True:
        page = await store.list(ListQuery(kind, filters=filters or {}, limit=size, marker=marker))
        for record in page.items:
            if visible(record):
                items.append(record)
                if len(items) == limit:
                    more = record.key != page.items[-1].key or page.next_marker is not None
                    return Page(items, record.key if more else None)
        if page.next_marker is None:
            return Page(items, None)
        marker = page.next_marker


async def union_page(
    store: Store,
    kind: str,
    limit: int,
    marker: str | None,
    alternatives: list[JSON],
    filters: JSON | None = None,
) -> Page:
    """A page of the records that match any of ``alternatives`` (each a set of equality
    filters, taken with ``filters``), in key order, as :func:`visible_page` pages: what a
    tenant may see when that is "its project's, or public" (images). Each alternative is
    read with the store's own filter, so a tenant's listing reads what it may see, not every
    project's records of the kind. An alternative that contradicts ``filters`` is skipped."""
    wanted = []
    for alternative in alternatives:
        merged = dict(filters or {})
        if any(k in merged and merged[k] != v for k, v in alternative.items()):
            continue
        wanted.append({**merged, **alternative})
    size = min(limit + 1, 1000)
    pages = [
        await store.list(ListQuery(kind, filters=f, limit=size, marker=marker)) for f in wanted
    ]
    found = sorted({r.key: r for p in pages for r in p.items}.values(), key=lambda r: r.key)
    items = found[:limit]
    more = len(found) > limit or any(p.next_marker is not None for p in pages)
    return Page(items, items[-1].key if more and items else None)
