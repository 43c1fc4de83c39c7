"""The store's history id and each hub's mark of it (``atoll.hub.store.history``): a store put
back from a snapshot behind the mark starts a new history; nothing else does."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from atoll.errors import StaleRevision
from atoll.hub import backup as hub_backup
from atoll.hub.settings import HubSettings
from atoll.hub.store import history
from atoll.hub.store.history import Mark, checked_history, history_id, read_mark, write_mark
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.sqlite import SQLiteStore
from tests.security.daemons import RunningHub

pytestmark = pytest.mark.integration


async def test_a_store_behind_the_mark_of_its_history_starts_a_new_one(tmp_path: Path) -> None:
    """An SQLite file put back as etcd's snapshot restore puts a cluster back: the same
    history id, a lower revision than the hub saw."""
    db, copy, mark = tmp_path / "hub.db", tmp_path / "snapshot.db", tmp_path / "mark.json"
    store = SQLiteStore(db)
    try:
        before = await checked_history(store, mark)  # no mark yet: made, unchanged
        await store.put("project", "p1", {"name": "p1"})
    finally:
        await store.close()
    shutil.copy(db, copy)  # the snapshot
    store = SQLiteStore(db)
    try:
        for i in range(3):
            await store.put("project", f"later{i}", {"name": f"later{i}"})
        write_mark(mark, Mark(before, await store.revision()))
        assert await checked_history(store, mark) == before  # at the mark: the same history
    finally:
        await store.close()
    shutil.copy(copy, db)  # restored
    restored = SQLiteStore(db)
    try:
        renewed = await checked_history(restored, mark)
        assert renewed != before
        assert await history_id(restored) == renewed
        # the mark is of the old history now: nothing more happens until it is written again
        assert await checked_history(restored, mark) == renewed
    finally:
        await restored.close()


async def test_a_mark_of_another_history_or_none_changes_nothing(tmp_path: Path) -> None:
    store = MemoryStore()
    made = await history_id(store)
    mark = tmp_path / "mark.json"
    assert await checked_history(store, mark) == made  # no mark (a new data dir)
    write_mark(mark, Mark("another-store", 10**6))  # the hub was pointed at another store
    assert await checked_history(store, mark) == made
    mark.write_text("{torn")  # a torn write: as no mark
    assert read_mark(mark) is None
    assert await checked_history(store, mark) == made


async def test_of_two_hubs_seeing_it_at_once_the_first_renews_and_the_other_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    made = await history_id(store)
    mark = tmp_path / "mark.json"
    write_mark(mark, Mark(made, await store.revision() + 5))
    real_put = store.put
    renewed_by_other = "renewed-by-the-other-hub"

    async def racing_put(kind: str, key: str, value: object, **kw: object) -> object:
        if kind == history.KIND and value != {"id": renewed_by_other}:
            await real_put(kind, key, {"id": renewed_by_other})  # the other hub wins
            raise StaleRevision("the other hub renewed it first")
        return await real_put(kind, key, value, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "put", racing_put)
    assert await checked_history(store, mark) == renewed_by_other


def test_a_running_hub_keeps_its_mark_private_in_its_data_dir(tmp_path: Path) -> None:
    hub = RunningHub.start(tmp_path / "hub")
    hub.stop()
    mark_path = hub.data_dir / history.MARK_FILE
    mark = read_mark(mark_path)
    assert mark is not None and mark.revision > 0 and mark.history, mark_path.read_text()
    assert stat.S_IMODE(mark_path.stat().st_mode) == 0o600


async def test_a_renew_mark_starts_a_new_history_once(tmp_path: Path) -> None:
    """What ``atoll hub restore`` of a hub on etcd leaves in the data dir: the store behind
    it was put back by etcdctl, which the hub cannot see."""
    store = MemoryStore()
    made = await history_id(store)
    mark = tmp_path / "mark.json"
    write_mark(mark, Mark("", 0, renew=True))
    renewed = await checked_history(store, mark)
    assert renewed != made
    assert read_mark(mark) == Mark(renewed, await store.revision())  # an ordinary mark now
    assert await checked_history(store, mark) == renewed  # once


async def test_restoring_the_backup_of_a_hub_on_etcd_leaves_a_renew_mark(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    data_dir.mkdir(mode=0o700)
    (data_dir / "token-key.pem").write_text("key")  # a data dir whose store is elsewhere
    settings = HubSettings(data_dir=data_dir, store="etcd://127.0.0.1:2379")
    _, warning = hub_backup.back_up(settings, tmp_path / "hub.tar.gz")
    assert warning is not None and "etcdctl snapshot save" in warning
    restored = tmp_path / "restored"
    _, made = hub_backup.restore(tmp_path / "hub.tar.gz", restored)
    assert made is None  # no store in it to give a history to
    assert read_mark(restored / history.MARK_FILE) == Mark("", 0, renew=True)
