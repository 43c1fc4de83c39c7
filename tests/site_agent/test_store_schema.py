"""The local store's schema versions: an agent upgraded in place opens its old database.

The v1 database here is written with the exact DDL and rows the agent shipped before schema
versions were kept (``user_version`` 0), as an upgraded site has it on disk.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from atoll import ids
from atoll.site_agent.errors import StoreCorrupt
from atoll.site_agent.store import DeletesKept, LocalStore, NewObject, schema
from atoll.site_agent.store.queues import Operation

SERVER_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def write_v1(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(schema.V1)
    spec = {"name": "web1", "flavor": "small", "image": "img", "nics": [], "ports": []}
    conn.execute(
        "INSERT INTO objects VALUES ('server', ?, 'web1', ?, 3, 0, 1.0, 2.0)",
        (SERVER_ID, json.dumps(spec)),
    )
    conn.execute(
        "INSERT INTO status VALUES ('server', ?, 'ACTIVE', 3, '', '{\"power_state\": \"running\"}',"
        " 2.0)",
        (SERVER_ID,),
    )
    conn.execute(
        "INSERT INTO status VALUES ('network', 'n1', 'ACTIVE', 1, '', '{}', 2.0)",
    )
    conn.execute("INSERT INTO meta VALUES ('local_signing_key', 'pem')")
    conn.close()
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 0


def open_store(path: Path) -> LocalStore:
    store = LocalStore(path)
    store.open_blocking()
    return store


def test_a_store_written_by_the_previous_schema_opens_and_migrates(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    write_v1(db)
    store = open_store(db)
    assert store.schema_version == schema.LATEST
    server = store.get_object("server", SERVER_ID)
    assert server.name == "web1" and server.generation == 3
    assert server.origin == "site" and server.hub_revision is None and server.project_id is None
    status = store.get_status("server", SERVER_ID)
    assert status is not None and status.state == "ACTIVE"
    assert status.detail == {"power_state": "running"}
    assert store.get_meta("local_signing_key") == "pem"
    # statuses written before got sequence numbers, and new ones continue after them
    assert sorted(s.seq for s in store.statuses_after(0)) == [1, 2]
    store.set_status("server", SERVER_ID, "SHUTOFF")
    assert store.get_status("server", SERVER_ID).seq == 3  # type: ignore[union-attr]
    store._close_blocking()
    again = open_store(db)  # a second open migrates nothing and loses nothing
    assert again.schema_version == schema.LATEST and again.last_seq() == 3
    again._close_blocking()


def test_a_new_store_takes_the_same_migrations(tmp_path: Path) -> None:
    store = open_store(tmp_path / "agent.db")
    assert store.schema_version == schema.LATEST
    obj = store.create_object(
        "network", "0" * 32, "net1", {"name": "net1"}, origin="hub", hub_revision=7,
        project_id="a" * 32,
    )  # fmt: skip
    assert (obj.origin, obj.hub_revision, obj.project_id) == ("hub", 7, "a" * 32)
    first = store.get_status("network", obj.id)
    assert first is not None and first.seq == 1
    store.set_status("network", obj.id, "PENDING")  # no change: no new sequence number
    assert store.last_seq() == 1
    store.set_status("network", obj.id, "ACTIVE", observed_generation=1)
    store.purge_object("network", obj.id)
    store.create_object("network", "1" * 32, "net2", {"name": "net2"})
    assert store.last_seq() == 3  # never reused after a purge
    store._close_blocking()


def test_a_store_from_a_newer_agent_is_refused_not_guessed(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    open_store(db)._close_blocking()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {schema.LATEST + 1}")
    conn.close()
    with pytest.raises(StoreCorrupt, match="newer than this agent"):
        open_store(db)


def test_a_migration_that_fails_leaves_the_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "agent.db"
    write_v1(db)
    broken = ((2, "test: fails half-way", ("ALTER TABLE objects ADD COLUMN x", "BOGUS SQL")),)
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    with pytest.raises(StoreCorrupt):
        asyncio.run(LocalStore(db).open())
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0  # still v1, unversioned
    columns = [r[1] for r in conn.execute("PRAGMA table_info(objects)")]
    assert "x" not in columns


def write_v2(path: Path) -> None:
    """A database as the agent before the sync queues wrote it (schema 2, with rows)."""
    write_v1(path)
    conn = sqlite3.connect(path, isolation_level=None)
    (number, _, statements) = schema.MIGRATIONS[0]
    assert number == 2
    for statement in statements:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 2")
    conn.close()


def test_a_store_of_schema_2_gets_the_sync_queues(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    write_v2(db)
    store = open_store(db)
    assert store.schema_version == schema.LATEST >= 3
    assert store.get_object("server", SERVER_ID).name == "web1"
    assert store.last_seq() == 2
    assert [store.counter(c) for c in ("applied_revision", "acked_seq", "sent_seq")] == [0, 0, 0]
    # an outbox row takes the next seq of the one counter the statuses use
    seq = store.queue_fact("event", {"kind": "server", "id": SERVER_ID}, kind="server")
    assert seq == 3 and [f.seq for f in store.outbox_after(0)] == [3]
    store.set_status("server", SERVER_ID, "SHUTOFF")
    assert store.last_seq() == 4
    assert store.outbox_acked(3) == 1 and store.counter("acked_seq") == 3
    store._close_blocking()


def write_v3(path: Path, rows: list[tuple[str, str, str, int | None]], creates: list[str]) -> None:
    """A database as the agent before offered marks were kept (schema 3): ``rows`` of
    ``(kind, id, origin, hub revision)``, and ``create`` records of ``creates`` still in
    the outbox."""
    write_v2(path)
    conn = sqlite3.connect(path, isolation_level=None)
    (number, _, statements) = schema.MIGRATIONS[1]
    assert number == 3
    for statement in statements:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    for kind, obj_id, origin, revision in rows:
        conn.execute(
            "INSERT INTO objects(kind, id, name, spec, created, updated, origin, hub_revision)"
            " VALUES (?, ?, ?, '{}', 1.0, 1.0, ?, ?)",
            (kind, obj_id, obj_id[:8], origin, revision),
        )
    for seq, obj_id in enumerate(creates, start=10):
        body = json.dumps({"op": "create", "kind": "flavor", "id": obj_id})
        conn.execute(
            "INSERT INTO outbox(seq, type, kind, obj_id, holds, body, created)"
            " VALUES (?, 'operation', 'flavor', ?, 1, ?, 1.0)",
            (seq, obj_id, body),
        )
    conn.close()


def test_a_store_of_schema_3_marks_what_the_site_offered_to_the_hub(tmp_path: Path) -> None:
    """What a hub restored from a backup is offered again: the objects the site made, but
    not the flavors it seeded (unless the hub adopted them or their create is queued), nor
    hub objects a local action gave origin ``site``."""
    tag = ids.site_tag("edge")
    made, seeded, adopted, queued = (ids.site_id(tag) for _ in range(4))
    hubs = ids.hub_id()
    db = tmp_path / "agent.db"
    write_v3(db, [("volume", made, "site", None), ("flavor", seeded, "site", None),
                  ("flavor", adopted, "site", 5), ("flavor", queued, "site", None),
                  ("server", hubs, "site", 6)], creates=[queued])  # fmt: skip
    store = open_store(db)
    assert store.schema_version == schema.LATEST
    marked = {o.id: o.offered_to_hub for o in store.list_objects()}
    assert marked == {SERVER_ID: True, made: True, seeded: False, adopted: True, queued: True,
                      hubs: False}  # fmt: skip
    store._close_blocking()


def test_remembered_deletes_are_bounded_by_count_and_age(tmp_path: Path) -> None:
    now = [1000.0]
    store = LocalStore(tmp_path / "agent.db", clock=lambda: now[0],
                       deletes_kept=DeletesKept(count=2, seconds=100.0))  # fmt: skip
    store.open_blocking()
    made = [ids.site_id(ids.site_tag("edge")) for _ in range(3)]
    for n, obj_id in enumerate(made):
        desired = {"kind": "volume", "meta": {"id": obj_id}, "spec": {}, "origin": "site"}
        create = Operation("volume", obj_id, {"op": "create", "desired": desired})
        store.insert_objects([NewObject("volume", obj_id, f"v{n}", {"size_gb": 1})], [],
                             operations=(create,))  # fmt: skip
        now[0] += 10
        delete = Operation("volume", obj_id, {"op": "delete", "desired": desired})
        store.mark_all_deleting([("volume", obj_id)], (delete,))
    assert [d.obj_id for d in store.deleted_objects()] == made[1:]  # the newest two
    assert store.was_deleted("volume", made[2]) and not store.was_deleted("volume", made[0])
    # made again with the same id (the hub kept its side of a conflict): forgotten
    store.purge_object("volume", made[2])
    store.insert_objects([NewObject("volume", made[2], "again", {"size_gb": 1}, "site", 9)], [])
    assert [d.obj_id for d in store.deleted_objects()] == [made[1]]
    now[0] += 100
    assert store.deleted_objects() == []
    store._close_blocking()
