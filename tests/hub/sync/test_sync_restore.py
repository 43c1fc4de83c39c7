"""A hub restored from a backup (``atoll hub restore``) and the sites that applied its later
revisions (PROTOCOL.md "History"): the restored store has a new history id; a site that
says another history starts over with a snapshot whatever the numbers say; what a field
engineer made at the site and the hub adopted after the backup is kept at the site and
adopted again; what the hub placed after the backup goes; what it placed before stays.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from atoll.hub import backup, bootstrap
from atoll.hub.settings import HubSettings
from atoll.hub.store.history import history_id
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.sqlite import SQLiteStore
from atoll.hub.sync.server import SERVER
from atoll.site_agent.hub_intent import HubIntent
from atoll.site_agent.sync.history import hub_history_blocking
from atoll.site_agent.sync.session import SyncClient
from atoll.sync import frames
from tests.hub.sync.synchub import ADMIN_PASSWORD, SyncHub, sync_hub
from tests.hub.sync.test_sync_end_to_end import FAST, joined
from tests.hub.sync.test_sync_sessions import eventually, network, project_member
from tests.site_agent.site_harness import Site, make_site

pytestmark = pytest.mark.integration


async def test_a_site_of_another_history_gets_a_snapshot_whatever_the_numbers(
    tmp_path: Path,
) -> None:
    async with sync_hub(tmp_path) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        net = await network(hub, "edge-1", "net-a", token)
        ours = hub.app[SERVER].history
        assert ours and ours == await history_id(hub.store)
        now = await hub.store.revision()

        same = await hub.connect(edge)
        welcome = await same.hello(applied_revision=now, history=ours)
        assert isinstance(welcome, frames.Welcome) and welcome.history == ours
        first = await same.first_intent()
        assert isinstance(first, frames.Changes) and first.items == ()  # nothing new
        await same.close()

        other = await hub.connect(edge)
        await other.hello(applied_revision=now, history="f" * 32)
        first = await other.first_intent()
        assert isinstance(first, frames.Snapshot), first
        assert [item.id for item in first.items] == [net["id"]]
        await other.close()

        # a site from before history ids says none: the numbers decide, as before
        older = await hub.connect(edge)
        await older.hello(applied_revision=now)
        first = await older.first_intent()
        assert isinstance(first, frames.Changes)
        await older.close()


async def test_a_restored_hub_keeps_what_the_site_made_and_takes_back_what_it_placed_since(
    tmp_path: Path,
) -> None:
    (tmp_path / "site").mkdir()
    site = await make_site(tmp_path / "site")
    first = tmp_path / "first"
    await _init(first / "hub")
    try:
        async with sync_hub(first, SQLiteStore(first / "hub" / "hub.db")) as hub:
            token = await project_member(hub)
            link = await joined(hub, site, "edge-1")
            client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
            await client.start()
            try:
                before = await network(hub, "edge-1", "before", token)
                await eventually(lambda: _present(site, "network", before["id"]))
                early = await site.resources.create_volume({"name": "early", "size_gb": 1})
                await eventually(lambda: _adopted(hub, early["id"]))
                await eventually(lambda: _recorded(site, "volume", early["id"]))
                old_history = hub.app[SERVER].history
                archive = tmp_path / "hub-backup.tar.gz"
                settings = HubSettings(data_dir=first / "hub", password_time_cost=1,
                                       password_memory_kib=8, password_parallelism=1)  # fmt: skip
                backup.back_up(settings, archive)

                # after the backup: the field engineer makes a volume, the hub adopts it;
                # the NOC places another network
                volume = await site.resources.create_volume({"name": "data", "size_gb": 1})
                await eventually(lambda: _adopted(hub, volume["id"]))
                after = await network(hub, "edge-1", "after", token)
                await eventually(lambda: _present(site, "network", after["id"]))
                assert await site.store.call(hub_history_blocking, site.store) == old_history
            finally:
                await client.stop()

        second = tmp_path / "second"
        summary, history = await asyncio.to_thread(backup.restore, archive, second / "hub")
        assert summary.files and history and history != old_history
        async with sync_hub(second, SQLiteStore(second / "hub" / "hub.db")) as hub:
            assert hub.app[SERVER].history == history
            # the restored hub's revision has passed the site's: "changes since" would
            # have been taken as a continuation of the old history
            for n in range(8):
                await network(hub, "edge-1", f"filler-{n}", token)
            moved = dataclasses.replace(link, url=hub.url)
            client = SyncClient(moved, site.store, HubIntent(site.resources), settings=FAST)
            await client.start()
            try:
                await eventually(lambda: _adopted(hub, volume["id"]))
                await eventually(lambda: _gone(site, "network", after["id"]))
                assert await _present(site, "network", before["id"])
                assert await _present(site, "volume", volume["id"])
                # adopted before the backup: the restored hub has it; offered again, it is
                # adopted as it is (no conflict) and its revision comes down again
                assert await _present(site, "volume", early["id"])
                await eventually(lambda: _recorded(site, "volume", early["id"]))
                await eventually(lambda: _recorded(site, "volume", volume["id"]))
                conflicts = await hub.ok("GET", "/v1/conflicts")
                assert conflicts["items"] == []
                stored = await site.store.call(site.store.get_object, "volume", volume["id"])
                assert stored.origin == "site"
                await eventually(lambda: _history_is(site, history))

                async def reported() -> Any:  # its status went up again, and was kept
                    reply = await hub.call("GET", f"/v1/sites/edge-1/volumes/{volume['id']}")
                    return reply.body["status"] if reply.status == 200 else None

                await eventually(reported)
            finally:
                await client.stop()
    finally:
        await site.close()


async def test_a_restored_hub_hears_again_what_the_site_did_after_the_backup(
    tmp_path: Path,
) -> None:
    """After the backup the site deleted a volume it made (adopted before the backup), and
    made another whose adoption had not come down when the link went: the restored hub
    deletes the first (the site sends its delete again and does not make it again from the
    snapshot) and adopts the second."""
    (tmp_path / "site").mkdir()
    site = await make_site(tmp_path / "site")
    first = tmp_path / "first"
    await _init(first / "hub")
    try:
        async with sync_hub(first, SQLiteStore(first / "hub" / "hub.db")) as hub:
            await project_member(hub)
            link = await joined(hub, site, "edge-1")
            client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
            await client.start()
            try:
                early = await site.resources.create_volume({"name": "early", "size_gb": 1})
                await eventually(lambda: _adopted(hub, early["id"]))
                await eventually(lambda: _recorded(site, "volume", early["id"]))
                archive = tmp_path / "hub-backup.tar.gz"
                settings = HubSettings(data_dir=first / "hub", password_time_cost=1,
                                       password_memory_kib=8, password_parallelism=1)  # fmt: skip
                backup.back_up(settings, archive)

                await site.resources.delete("volume", early["id"])
                await eventually(lambda: _not_at_hub(hub, early["id"]))
                await site.converge()  # torn down and forgotten here
                assert await _gone(site, "volume", early["id"])
                late = await site.resources.create_volume({"name": "late", "size_gb": 1})
                await eventually(lambda: _adopted(hub, late["id"]))
            finally:
                await client.stop()
        # the hub's adoption of "late" had not come down when the link went
        await site.store.call(_forget_revision, site, "volume", late["id"])

        second = tmp_path / "second"
        await asyncio.to_thread(backup.restore, archive, second / "hub")
        async with sync_hub(second, SQLiteStore(second / "hub" / "hub.db")) as hub:
            assert await _adopted(hub, early["id"])  # as of the backup
            assert not await _adopted(hub, late["id"])
            moved = dataclasses.replace(link, url=hub.url)
            client = SyncClient(moved, site.store, HubIntent(site.resources), settings=FAST)
            await client.start()
            try:
                await eventually(lambda: _adopted(hub, late["id"]))
                await eventually(lambda: _not_at_hub(hub, early["id"]))
                await eventually(lambda: _recorded(site, "volume", late["id"]))
                await eventually(lambda: _snapshot_applied(site))
                assert await _gone(site, "volume", early["id"])
                conflicts = await hub.ok("GET", "/v1/conflicts")
                assert conflicts["items"] == []
            finally:
                await client.stop()
    finally:
        await site.close()


def _forget_revision(site: Site, kind: str, obj_id: str) -> None:
    with site.store.tx() as c:
        c.execute(
            "UPDATE objects SET hub_revision = NULL WHERE kind = ? AND id = ?", (kind, obj_id)
        )


async def _snapshot_applied(site: Site) -> bool:
    """The restored hub's snapshot is in (its last part) and applied."""
    applied = await site.store.call(site.store.counter, "applied_revision")
    return applied > 0 and await site.store.call(site.store.table_count, "inbox") == 0


async def _not_at_hub(hub: SyncHub, volume_id: str) -> bool:
    reply = await hub.call("GET", f"/v1/sites/edge-1/volumes/{volume_id}")
    return reply.status == 404


async def _init(data_dir: Path) -> None:
    await asyncio.to_thread(bootstrap.init, data_dir, ADMIN_PASSWORD, [])


async def _adopted(hub: SyncHub, volume_id: str) -> bool:
    reply = await hub.call("GET", f"/v1/sites/edge-1/volumes/{volume_id}")
    return reply.status == 200 and reply.body["origin"] == "site"


async def _present(site: Site, kind: str, obj_id: str) -> bool:
    return any(
        o.id == obj_id and not o.deleting
        for o in await site.store.call(site.store.list_objects, kind)
    )


async def _recorded(site: Site, kind: str, obj_id: str) -> bool:
    """The site has the hub's revision of an object it made (the hub adopted it)."""
    stored = await site.store.call(site.store.get_object, kind, obj_id)
    return stored.origin == "site" and stored.hub_revision is not None


async def _gone(site: Site, kind: str, obj_id: str) -> bool:
    return not await _present(site, kind, obj_id)


async def _history_is(site: Site, history: str) -> bool:
    return bool(await site.store.call(hub_history_blocking, site.store) == history)


async def test_a_new_store_makes_its_history_id_once() -> None:
    store = MemoryStore()
    made = await history_id(store)
    assert made and await history_id(store) == made
