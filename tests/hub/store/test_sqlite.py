"""What only the SQLite store does: one WAL file, bounded history, other processes' writes."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest

from atoll.errors import NotFound, StaleRevision
from atoll.hub.store.base import Compacted, Put, Record
from atoll.hub.store.sqlite import PRUNE_EVERY, SQLiteStore

pytestmark = pytest.mark.integration


async def test_history_is_bounded_and_older_asks_raise_compacted(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "hub.db", history=3)
    try:
        revs = [(await store.put("site", f"s{i}", {"i": i})).revision for i in range(6)]
        assert [c.revision for c in await store.changes(revs[2])] == revs[3:]
        with pytest.raises(Compacted) as caught:
            await store.changes(revs[1])
        assert caught.value.revision == revs[-1]
        with pytest.raises(Compacted):  # one kind's share of it is gone as well
            await store.changes(revs[1], kind="site", key_prefix="s")
        with pytest.raises(Compacted):
            await anext(store.watch(0))
    finally:
        await store.close()


async def test_one_private_wal_file_with_the_documented_tables(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sub" / "hub.db")
    try:
        await store.put("project", "p", {})
        wal_mode = (tmp_path / "sub" / "hub.db-wal").stat().st_mode
    finally:
        await store.close()
    assert wal_mode & 0o077 == 0, "the WAL is readable by others"
    assert (tmp_path / "sub" / "hub.db").stat().st_mode & 0o077 == 0, "readable by others"
    conn = sqlite3.connect(tmp_path / "sub" / "hub.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"objects", "changes"}
    finally:
        conn.close()


async def test_watch_sees_writes_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    watcher = SQLiteStore(path, poll_interval=0.05)
    try:
        await watcher.put("site", "mine", {})
        watch = watcher.watch(await watcher.revision())
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.1)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import asyncio, sys; from pathlib import Path;"
            "from atoll.hub.store.sqlite import SQLiteStore\n"
            "async def main():\n"
            "    s = SQLiteStore(Path(sys.argv[1]))\n"
            "    await s.put('site', 'theirs', {'by': 'other'})\n"
            "    await s.close()\n"
            "asyncio.run(main())",
            str(path),
        )
        assert await proc.wait() == 0
        change = await asyncio.wait_for(pending, 5)
        await watch.aclose()  # type: ignore[attr-defined]
        assert (change.key, change.value) == ("theirs", {"by": "other"})
    finally:
        await watcher.close()


async def test_two_stores_on_one_file_never_hand_out_a_revision_twice(tmp_path: Path) -> None:
    """A write's revision is its change's rowid, taken under SQLite's write lock: stores on
    one file (two hub processes) writing at once get distinct revisions, one after another."""
    path = tmp_path / "hub.db"
    one, two = SQLiteStore(path, durable=False), SQLiteStore(path, durable=False)
    try:
        await one.put("site", "first", {})
        writes = [
            s.put("site", f"{n}-{i}", {}) for i in range(40) for n, s in (("a", one), ("b", two))
        ]
        records = await asyncio.gather(*writes)
        revisions = sorted(r.revision for r in records)
        assert revisions == list(range(2, 2 + len(writes)))
        assert [c.revision for c in await two.changes(1, limit=1000)] == revisions
        assert await one.revision() == await two.revision() == revisions[-1]
    finally:
        await one.close()
        await two.close()


async def test_a_failed_commit_in_a_group_commit_leaves_the_others_and_no_gap(
    tmp_path: Path,
) -> None:
    """Writes queued together commit together; a commit whose later check fails is undone
    alone, and the revisions of the others follow one another."""
    store = SQLiteStore(tmp_path / "hub.db", durable=False)
    try:
        base = await store.put("flavor", "x", {"n": 0})
        doomed = store.commit(
            [Put("flavor", "y", {"n": 1}), Put("flavor", "x", {"n": 2}, expect_revision=99)]
        )
        others = [store.put("flavor", f"f{i}", {"n": i}) for i in range(8)]
        results = await asyncio.gather(doomed, *others, return_exceptions=True)
        assert isinstance(results[0], StaleRevision)
        with pytest.raises(NotFound):
            await store.get("flavor", "y")
        revisions = sorted(r.revision for r in results[1:] if isinstance(r, Record))
        assert revisions == list(range(base.revision + 1, base.revision + 9))
        assert [c.revision for c in await store.changes(base.revision)] == revisions
        assert await store.revision() == revisions[-1]
    finally:
        await store.close()


async def test_history_is_pruned_on_disk_too(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "hub.db", history=3, durable=False)
    try:
        for i in range(3 * PRUNE_EVERY):
            await store.put("site", f"s{i}", {"i": i})
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        (kept,) = conn.execute("SELECT COUNT(*) FROM changes").fetchone()
    assert 3 <= kept <= 3 + PRUNE_EVERY


async def test_a_file_made_by_an_earlier_version_keeps_its_revisions(tmp_path: Path) -> None:
    """Files made before the revision was read off the change log (a ``meta`` counter row,
    a rowid ``objects`` table) open as they are and continue from their last revision."""
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        conn.executescript(
            """
            CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER);
            CREATE TABLE objects (kind TEXT, key TEXT, value TEXT, revision INTEGER,
                                  created_revision INTEGER, PRIMARY KEY (kind, key));
            CREATE TABLE changes (revision INTEGER PRIMARY KEY, kind TEXT, key TEXT, op TEXT,
                                  value TEXT);
            INSERT INTO meta VALUES ('revision', 7);
            INSERT INTO objects VALUES ('site', 'old', '{"n":1}', 7, 3);
            INSERT INTO changes VALUES (3, 'site', 'old', 'put', '{"n":0}');
            INSERT INTO changes VALUES (7, 'site', 'old', 'put', '{"n":1}');
            """
        )
    store = SQLiteStore(tmp_path / "hub.db")
    try:
        assert await store.revision() == 7
        assert await store.get("site", "old") == Record("site", "old", {"n": 1}, 7, 3)
        record = await store.put("site", "old", {"n": 2}, expect_revision=7)
        assert (record.revision, record.created_revision) == (8, 3)
        assert [(c.revision, c.key) for c in await store.changes(7)] == [(8, "old")]
    finally:
        await store.close()
