"""The store contract (see ``atoll.hub.store.base``), checked against every backend.

Each test runs on MemoryStore, SQLiteStore (a file) and EtcdStore (a real etcd member).
"""

from __future__ import annotations

import asyncio

import pytest

from atoll.errors import InvalidInput, NotFound, StaleRevision
from atoll.hub.store.base import Change, Delete, ListQuery, Put, Record, Store
from atoll.hub.store.query import list_all
from tests.hub.store.conftest import Backend


async def test_empty_store_is_at_revision_zero(store: Store) -> None:
    assert await store.revision() == 0
    assert await store.changes(0) == []
    with pytest.raises(NotFound):
        await store.get("project", "nope")


async def test_put_get_delete(store: Store) -> None:
    value = {"name": "Ünïcode ✓", "n": 3, "ok": True, "nested": {"a": [1, 2.5, None]}}
    made = await store.put("project", "p1", value)
    assert made == Record("project", "p1", value, made.revision, made.revision)
    assert await store.get("project", "p1") == made
    again = await store.put("project", "p1", {"name": "renamed"})
    assert again.revision > made.revision and again.created_revision == made.revision
    assert (await store.get("project", "p1")).value == {"name": "renamed"}
    gone = await store.delete("project", "p1")
    assert gone > again.revision
    with pytest.raises(NotFound):
        await store.get("project", "p1")
    with pytest.raises(NotFound):
        await store.delete("project", "p1")


async def test_returned_values_are_copies(store: Store) -> None:
    value = {"tags": ["a"]}
    made = await store.put("site", "s", value)
    value["tags"].append("b")
    made.value["tags"].append("c")
    assert (await store.get("site", "s")).value == {"tags": ["a"]}


async def test_compare_and_swap(store: Store) -> None:
    a = await store.put("user", "u", {"v": 1}, expect_revision=0)
    with pytest.raises(StaleRevision):
        await store.put("user", "u", {"v": 2}, expect_revision=0)
    b = await store.put("user", "u", {"v": 2}, expect_revision=a.revision)
    assert b.created_revision == a.revision
    with pytest.raises(StaleRevision):
        await store.put("user", "u", {"v": 3}, expect_revision=a.revision)
    assert (await store.get("user", "u")).value == {"v": 2}
    with pytest.raises(NotFound):
        await store.put("user", "missing", {}, expect_revision=a.revision)
    with pytest.raises(StaleRevision):
        await store.delete("user", "u", expect_revision=a.revision)
    with pytest.raises(NotFound):
        await store.delete("user", "missing", expect_revision=a.revision)
    await store.delete("user", "u", expect_revision=b.revision)
    with pytest.raises(NotFound):
        await store.get("user", "u")
    recreated = await store.put("user", "u", {"v": 4}, expect_revision=0)
    assert recreated.created_revision == recreated.revision > b.revision


async def test_revisions_are_store_wide_and_strictly_increasing(store: Store) -> None:
    revisions = []
    for i in range(4):
        for kind in ("project", "flavor", "site"):
            revisions.append((await store.put(kind, f"k{i}", {"i": i})).revision)
        revisions.append(await store.delete("flavor", f"k{i}"))
    assert revisions == sorted(set(revisions))
    assert await store.revision() == revisions[-1]


async def test_same_key_in_different_kinds_is_different_objects(store: Store) -> None:
    await store.put("project", "x", {"kind": "project"})
    await store.put("user", "x", {"kind": "user"})
    await store.delete("project", "x")
    assert (await store.get("user", "x")).value == {"kind": "user"}


async def test_list_filters_and_pages(store: Store) -> None:
    for i in range(7):
        value: dict[str, object] = {"region": "east" if i % 2 else "west", "n": i % 3, "up": i < 3}
        if i == 6:
            value["region"] = None
        await store.put("site", f"s{i}", value)
    await store.put("flavor", "s9", {"region": "east"})  # another kind: never listed

    keys, marker, pages = [], None, 0
    while True:
        page = await store.list(ListQuery("site", limit=3, marker=marker))
        keys += [r.key for r in page.items]
        pages += 1
        if page.next_marker is None:
            break
        marker = page.next_marker
    assert keys == [f"s{i}" for i in range(7)] and pages == 3

    async def listed(**filters: object) -> list[str]:
        return [r.key for r in (await store.list(ListQuery("site", filters=filters))).items]

    assert await listed(region="east") == ["s1", "s3", "s5"]
    assert await listed(region="east", n=0) == ["s3"]
    assert await listed(up=True) == ["s0", "s1", "s2"]
    assert await listed(region=None) == ["s6"]
    assert await listed(nosuchfield=None) == [f"s{i}" for i in range(7)]
    assert await listed(n="0") == []  # a string never equals a number
    page = await store.list(ListQuery("site", filters={"region": "west"}, limit=2))
    assert [r.key for r in page.items] == ["s0", "s2"] and page.next_marker == "s2"
    page = await store.list(ListQuery("site", filters={"region": "west"}, limit=2, marker="s2"))
    assert [r.key for r in page.items] == ["s4"] and page.next_marker is None


async def test_list_by_key_prefix(store: Store) -> None:
    """``key_prefix``: the keys that start with it (characters, not bytes), with filters and
    pages as ever; neighbours on either side, and other kinds, stay out."""
    keys = ["s1/a", "s1/b", "s1/c/d", "s1", "s10/a", "s0/z", "s1\U0010ffff", "\ud7ff/x", "\ue000"]
    for i, key in enumerate(keys):
        await store.put("site_object", key, {"n": i % 2})
    await store.put("site", "s1/a", {"n": 0})  # another kind

    async def listed(prefix: str, **filters: object) -> list[str]:
        found, marker = [], None
        while True:
            query = ListQuery("site_object", filters, limit=2, marker=marker, key_prefix=prefix)
            page = await store.list(query)
            found += [r.key for r in page.items]
            if page.next_marker is None:
                return found
            marker = page.next_marker

    assert await listed("s1/") == ["s1/a", "s1/b", "s1/c/d"]
    assert await listed("s1/", n=1) == ["s1/b"]
    assert await listed("s1") == ["s1", "s1/a", "s1/b", "s1/c/d", "s10/a", "s1\U0010ffff"]
    assert await listed("s1\U0010ffff") == ["s1\U0010ffff"]
    assert await listed("\ud7ff") == ["\ud7ff/x"]
    assert await listed("nothing/") == []
    assert await listed("") == sorted(keys)
    page = await store.list(ListQuery("site_object", marker="s1/z", key_prefix="s1/"))
    assert page.items == [] and page.next_marker is None  # a marker past the prefix
    everything = await list_all(store, "site_object", {"n": 0}, key_prefix="s1/")
    assert [r.key for r in everything] == ["s1/a", "s1/c/d"]


async def test_list_rejects_bad_queries(store: Store) -> None:
    for filters in ({"a.b": 1}, {"a": {"nested": 1}}, {"'; drop": 1}):
        with pytest.raises(InvalidInput, match="filters"):
            await store.list(ListQuery("site", filters=filters))
    with pytest.raises(InvalidInput, match="limit"):
        await store.list(ListQuery("site", limit=0))


async def test_changes_since_include_deletes(store: Store) -> None:
    a = await store.put("project", "a", {"v": 1})
    b = await store.put("user", "b", {"v": 2})
    c = await store.put("project", "a", {"v": 3})
    d = await store.delete("user", "b")
    assert await store.changes(0) == [
        Change(a.revision, "project", "a", "put", {"v": 1}),
        Change(b.revision, "user", "b", "put", {"v": 2}),
        Change(c.revision, "project", "a", "put", {"v": 3}),
        Change(d, "user", "b", "delete", None),
    ]
    assert [ch.revision for ch in await store.changes(b.revision)] == [c.revision, d]
    assert [ch.revision for ch in await store.changes(0, limit=2)] == [a.revision, b.revision]
    assert await store.changes(d) == []


async def test_changes_of_one_kind_and_key_prefix(store: Store) -> None:
    """One site's share of the history: its kind, keys under its prefix (a prefix of
    characters, not bytes), deletes included; the limit counts what is kept."""
    a = await store.put("site_object", "s1/server/a", {"v": 1})
    await store.put("site_object", "s10/server/b", {"v": 2})  # another site's
    await store.put("site", "s1/x", {"v": 3})  # another kind
    c = await store.put("site_object", "s1/network/ü", {"v": 4})
    u = await store.put("site_object", "ü1/server/a", {"v": 5})
    d = await store.delete("site_object", "s1/server/a")
    mine = await store.changes(0, kind="site_object", key_prefix="s1/")
    assert mine == [
        Change(a.revision, "site_object", "s1/server/a", "put", {"v": 1}),
        Change(c.revision, "site_object", "s1/network/ü", "put", {"v": 4}),
        Change(d, "site_object", "s1/server/a", "delete", None),
    ]
    after_a = await store.changes(a.revision, kind="site_object", key_prefix="s1/")
    assert [ch.revision for ch in after_a] == [c.revision, d]
    first = await store.changes(0, limit=1, kind="site_object", key_prefix="s1/")
    assert [ch.revision for ch in first] == [a.revision]
    assert [ch.revision for ch in await store.changes(0, kind="site_object", key_prefix="ü1/")] == [
        u.revision
    ]
    assert len(await store.changes(0, kind="site_object")) == 5
    assert await store.changes(d, kind="site_object", key_prefix="s1/") == []
    assert await store.changes(0, kind="nothing") == []
    with pytest.raises(ValueError, match="kind"):
        await store.changes(0, key_prefix="s1/")


async def test_watch_sees_old_then_new_changes(store: Store) -> None:
    first = await store.put("flavor", "f1", {})
    seen: list[Change] = []

    async def consume() -> None:
        async for change in store.watch(0):
            seen.append(change)
            if len(seen) == 3:
                return

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    second = await store.put("flavor", "f2", {"x": 1})
    third = await store.delete("flavor", "f1")
    await asyncio.wait_for(task, 10)
    assert [(c.revision, c.key, c.op) for c in seen] == [
        (first.revision, "f1", "put"),
        (second.revision, "f2", "put"),
        (third, "f1", "delete"),
    ]


async def test_watch_of_a_kind_gives_that_kind_only(store: Store) -> None:
    start = await store.revision()
    watch = store.watch(start, kind="flavor")
    try:
        for i in range(3):
            await store.put("image", f"i{i}", {"i": i})
        made = await store.put("flavor", "f", {"n": 1})
        got = [await asyncio.wait_for(anext(watch), 10)]
        for i in range(3):
            await store.put("image", f"j{i}", {"i": i})
        gone = await store.delete("flavor", "f")
        got.append(await asyncio.wait_for(anext(watch), 10))
    finally:
        await watch.aclose()  # type: ignore[attr-defined]
    assert [(c.revision, c.kind, c.key, c.op, c.value) for c in got] == [
        (made.revision, "flavor", "f", "put", {"n": 1}),
        (gone, "flavor", "f", "delete", None),
    ]


async def test_watch_from_a_revision_skips_older_changes(store: Store) -> None:
    old = await store.put("flavor", "old", {})
    new = await store.put("flavor", "new", {})
    watch = store.watch(old.revision)
    change = await asyncio.wait_for(anext(watch), 10)
    await watch.aclose()  # type: ignore[attr-defined]
    assert (change.revision, change.key) == (new.revision, "new")


async def test_watch_resumes_where_its_consumer_paused(store: Store) -> None:
    """Writes made while the consumer is busy arrive after it, in order, each exactly once."""
    watch = store.watch(await store.revision())
    try:
        made = await store.put("flavor", "a", {"n": 1})
        got = [await asyncio.wait_for(anext(watch), 10)]
        later = [await store.put("flavor", "b", {"n": 2}), await store.put("flavor", "a", {})]
        gone = await store.delete("flavor", "b")
        got += [await asyncio.wait_for(anext(watch), 10) for _ in range(3)]
        after = await store.put("flavor", "c", {})  # caught up: the watch waits for this one
        got.append(await asyncio.wait_for(anext(watch), 10))
    finally:
        await watch.aclose()  # type: ignore[attr-defined]
    assert [(c.revision, c.key, c.op, c.value) for c in got] == [
        (made.revision, "a", "put", {"n": 1}),
        (later[0].revision, "b", "put", {"n": 2}),
        (later[1].revision, "a", "put", {}),
        (gone, "b", "delete", None),
        (after.revision, "c", "put", {}),
    ]


async def test_only_one_of_racing_writers_wins(backend: Backend) -> None:
    handles = [backend.open() for _ in range(6)]
    base = await handles[0].put("site", "contested", {"owner": None})

    async def claim(i: int, handle: Store) -> Record:
        return await handle.put("site", "contested", {"owner": i}, expect_revision=base.revision)

    results = await asyncio.gather(
        *(claim(i, h) for i, h in enumerate(handles)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, Record)]
    assert len(winners) == 1, results
    assert all(isinstance(r, StaleRevision) for r in results if not isinstance(r, Record))
    assert (await handles[-1].get("site", "contested")).value == winners[0].value

    created = await asyncio.gather(
        *(h.put("site", "fresh", {"by": i}, expect_revision=0) for i, h in enumerate(handles)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Record) for r in created) == 1, created


async def test_data_survives_reopening(persistent_backend: Backend) -> None:
    backend = persistent_backend
    first = backend.open()
    made = await first.put("project", "p", {"name": "p"})
    gone = await first.delete("project", "p")
    kept = await first.put("project", "q", {"name": "q"})
    await first.close()
    second = backend.open()
    assert await second.get("project", "q") == kept
    assert await second.revision() == kept.revision
    assert [c.revision for c in await second.changes(0)] == [made.revision, gone, kept.revision]
    later = await second.put("project", "r", {})
    assert later.revision > kept.revision


async def test_concurrent_writes_on_one_handle(store: Store) -> None:
    """Many writes in flight at once (as under API load): each applied once, in one order."""
    base = await store.put("flavor", "shared", {"n": 0})
    contested = [
        store.put("flavor", "shared", {"n": i}, expect_revision=base.revision) for i in range(10)
    ]
    fresh = [store.put("flavor", f"f{i:02}", {"n": i}) for i in range(40)]
    results = await asyncio.gather(*contested, *fresh, return_exceptions=True)
    assert sum(isinstance(r, Record) for r in results[:10]) == 1
    assert all(isinstance(r, StaleRevision | Record) for r in results[:10])
    written = [r for r in results if isinstance(r, Record)]
    assert len(written) == 41 and len({r.revision for r in written}) == 41
    logged = await store.changes(base.revision)
    assert sorted(r.revision for r in written) == [c.revision for c in logged]
    page = await store.list(ListQuery("flavor", limit=100))
    assert len(page.items) == 41


async def test_names_no_object_can_have(store: Store) -> None:
    await store.put("site", "b/c", {"tricky": True})  # "/" is fine in a key
    for kind, key in (("site/b", "c"), ("", "k"), ("site", ""), ("si\0te", "k")):
        with pytest.raises(InvalidInput):
            await store.put(kind, key, {})
        with pytest.raises(NotFound):
            await store.get(kind, key)
        with pytest.raises(NotFound):
            await store.delete(kind, key)
        assert (await store.list(ListQuery(kind))).items == [] or kind == "site"
    assert (await store.get("site", "b/c")).value == {"tricky": True}


async def test_many_watchers_all_see_a_write(store: Store) -> None:
    start = await store.revision()

    async def first_change() -> Change:
        watch = store.watch(start)
        try:
            return await anext(watch)
        finally:
            await watch.aclose()  # type: ignore[attr-defined]

    watchers = [asyncio.create_task(first_change()) for _ in range(20)]
    await asyncio.sleep(0.2)
    made = await store.put("site", "news", {"n": 1})
    seen = await asyncio.wait_for(asyncio.gather(*watchers), 10)
    assert {(c.revision, c.key) for c in seen} == {(made.revision, "news")}


async def test_commit_writes_all_or_nothing(store: Store) -> None:
    project = await store.put("project", "p", {"n": 1})
    grant = await store.put("grant", "g1", {"p": "p"})
    rev = await store.commit(
        [
            Put("grant", "g2", {"p": "p"}, expect_revision=0),
            Put("project", "p", {"n": 2}, expect_revision=project.revision),
        ]
    )
    assert rev == await store.revision()
    g2, p2 = await store.get("grant", "g2"), await store.get("project", "p")
    assert project.revision < g2.revision <= p2.revision == rev
    assert p2.created_revision == project.created_revision
    # a stale check anywhere writes nothing
    with pytest.raises(StaleRevision):
        await store.commit(
            [
                Put("grant", "g3", {"p": "p"}, expect_revision=0),
                Delete("project", "p", expect_revision=project.revision),
            ]
        )
    with pytest.raises(NotFound):
        await store.get("grant", "g3")
    assert await store.revision() == rev
    with pytest.raises(NotFound):
        await store.commit([Delete("grant", "g1"), Delete("grant", "missing")])
    assert (await store.get("grant", "g1")) == grant
    # a project and its grants go together
    done = await store.commit(
        [
            Delete("project", "p", expect_revision=p2.revision),
            Delete("grant", "g1"),
            Delete("grant", "g2", expect_revision=g2.revision),
        ]
    )
    for kind, key in (("project", "p"), ("grant", "g1"), ("grant", "g2")):
        with pytest.raises(NotFound):
            await store.get(kind, key)
    changes = await store.changes(rev)
    assert [(c.kind, c.key, c.op) for c in changes] == [
        ("project", "p", "delete"),
        ("grant", "g1", "delete"),
        ("grant", "g2", "delete"),
    ]
    assert changes[-1].revision == done
    assert [c.key for c in await store.changes(rev, limit=1)][:1] == ["p"]


async def test_commit_refuses_an_object_twice_and_bad_names(store: Store) -> None:
    with pytest.raises(InvalidInput):
        await store.commit([Put("a", "k", {}), Delete("a", "k")])
    with pytest.raises(InvalidInput):
        await store.commit([Put("a/b", "k", {})])
    assert await store.revision() == 0
