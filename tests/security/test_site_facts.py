"""What a joined site can make the running hub store: bounded, however it misbehaves.

A compromised or buggy site holds a real certificate and speaks the sync protocol (here
exactly as ``atoll site-agent`` would, over mTLS, but saying what the test tells it). Before
the fix it could store any map of up to about 1 MiB per fact (F5 in the site security
probe: 900 KB events, acked and kept as they were, without end) and report 2^64-1 vCPUs,
recorded as is for placement and the fleet's figures. Now every fact is checked against its
model, size and the site's event budget; one that breaks them is refused alone (kept as a
bounded ``refused_fact`` event, acknowledged: the facts after it go on), and a capacity
beyond any site's is not recorded while the session goes on. Statuses had no budget: each
made-up object id was a new status record of up to 32 KiB, without end; now a status is
kept only of an object the hub placed at the site or adopted from it. Operation records
were budgeted, but the objects their ``create`` made the hub adopt were not: a site could
fill the hub's store with them; now the hub adopts at most ``site_object_limit`` objects
made at a site, and refuses the creates beyond it alone. Updates of ids the hub had no
record of each opened a new conflict holding the site's version (ten updates of one id, ten
conflicts), past that limit too; now one conflict per object, and they count against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from atoll import ids
from atoll.hub.store.sqlite import SQLiteStore
from atoll.sync import codec, frames, versions
from tests.security.daemons import (
    RunningHub,
    running_hub,
    running_site,
    site_join,
    site_tls,
)

EVENT_LIMIT = 20
OBJECT_LIMIT = 5
REFUSED = "facts refused, kept as refused_fact events"  # what the hub logs, once a frame


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """A hub keeping at most EVENT_LIMIT events a site (``site_event_limit``) and adopting
    at most OBJECT_LIMIT objects made at a site (``site_object_limit``)."""
    config = f"[hub]\nsite_event_limit = {EVENT_LIMIT}\nsite_object_limit = {OBJECT_LIMIT}\n"
    with running_hub(tmp_path_factory.mktemp("facts-hub"), config=config) as running:
        yield running


class SiteEnd:
    """A joined site's sync session, saying whatever a test makes it say."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, site_id: str) -> None:
        self.ws, self.site_id, self.n, self.seq = ws, site_id, 0, 0

    async def send(self, frame: frames.Frame) -> None:
        self.n += 1
        await self.ws.send_bytes(codec.encode(dataclasses.replace(frame, n=self.n)))

    async def hello(self, capacity: Any = None) -> frames.Welcome:
        await self.send(frames.Hello(v=versions.CURRENT, versions=versions.SPOKEN,
                                     site_id=self.site_id, agent_version="probe",
                                     model_version=1, capacity=capacity))  # fmt: skip
        welcome = await self.until(frames.Welcome)
        assert isinstance(welcome, frames.Welcome)
        self.seq = welcome.acked_seq
        return welcome

    async def facts(self, *items: tuple[str, Any]) -> int:
        """Send ``items`` as one facts frame; the seq the hub acknowledges."""
        facts = []
        for kind, body in items:
            self.seq += 1
            facts.append(frames.Fact(seq=self.seq, type=kind, body=body))  # type: ignore[arg-type]
        await self.send(frames.Facts(v=versions.CURRENT, items=tuple(facts)))
        ack = await self.until(frames.Ack, lambda a: a.seq is not None and a.seq >= self.seq)
        return int(ack.seq)

    async def until(self, kind: type[Any], wanted: Any = None, within: float = 20.0) -> Any:
        async with asyncio.timeout(within):
            while True:
                msg = await self.ws.receive()
                assert msg.type == aiohttp.WSMsgType.BINARY, (msg.type, msg.data)
                frame = codec.decode(msg.data, max_frame=8 << 20)
                assert not isinstance(frame, frames.Error), f"{frame.code}: {frame.message}"
                if isinstance(frame, kind) and (wanted is None or wanted(frame)):
                    return frame


def join(hub: RunningHub, where: Path, name: str) -> tuple[str, str, Path]:
    """Site ``name`` joined with a code into ``where``, as a field engineer does: (name,
    id, its data dir)."""
    done = site_join(where, hub.join_token(name)["code"])
    assert done.returncode == 0, done.stderr
    link = json.loads((where / "hub" / "link.json").read_text())
    return link["site_name"], link["site_id"], where


@contextlib.asynccontextmanager
async def session(hub: RunningHub, joined: tuple[str, str, Path]) -> AsyncIterator[SiteEnd]:
    """A sync session of the ``joined`` site, by its certificate."""
    _, site_id, data_dir = joined
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{hub.url}/v1/sync", ssl=site_tls(data_dir), max_msg_size=0) as ws,
    ):
        yield SiteEnd(ws, site_id)


@pytest.fixture(scope="module")
def joined(hub: RunningHub, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    return join(hub, tmp_path_factory.mktemp("facts-site") / "agent", "facts-edge")


@pytest.fixture
async def site(hub: RunningHub, joined: tuple[str, str, Path]) -> AsyncIterator[SiteEnd]:
    async with session(hub, joined) as end:
        yield end


def event(message: str = "no disk", **more: Any) -> dict[str, Any]:
    return {"kind": "server", "id": ids.hub_id(), "reason": "error", "message": message,
            "at": time.time(), **more}  # fmt: skip


def events(hub: RunningHub, name: str) -> list[dict[str, Any]]:
    reply = hub.call("GET", f"/v1/sites/{name}/events?limit=1000")
    assert reply.status == 200, reply
    assert len(reply.raw) < 256 << 10, f"{len(reply.raw)} bytes of events"
    return [item["event"] | {"seq": item["seq"]} for item in reply.body["items"]]


async def test_an_event_of_900_kb_is_refused_alone_and_kept_as_a_small_refusal(
    hub: RunningHub, joined: tuple[str, str, Path], site: SiteEnd
) -> None:
    logged = hub.log.count(REFUSED)
    await site.hello()
    first = site.seq + 1
    acked = await site.facts(
        ("event", event(padding="y" * 900_000)),  # F5: acked and kept as it was, before
        ("event", event(message="m" * 5000)),  # over a message's 4096 characters
        ("event", event(message="kept")),
    )
    assert acked == first + 2  # every one acknowledged: the outbox goes on
    shown = {e["seq"]: e for e in events(hub, joined[0])}  # under 256 KiB, all of them
    assert [shown[first + i]["reason"] for i in range(3)] == ["refused_fact"] * 2 + ["error"]
    big = shown[first]
    assert "over 32768" in big["message"] and big["body"] is None and big["body_bytes"] > 900_000
    assert "body.message: must have at most 4096 characters" in shown[first + 1]["message"]
    assert shown[first + 2]["message"] == "kept"
    assert hub.log.count(REFUSED) == logged + 1  # once for the frame


async def test_a_status_out_of_shape_no_longer_stops_every_fact_after_it(
    hub: RunningHub, joined: tuple[str, str, Path], site: SiteEnd
) -> None:
    """The codec refused the whole frame for it (``error bad_frame``): the site sent it
    again at every reconnect, and nothing after it was ever recorded."""
    await site.hello()
    bad = {"kind": "server", "id": ids.hub_id(), "seq": 1, "state": "not upper"}
    acked = await site.facts(("status", bad), ("event", event(message="after")))
    shown = {e["seq"]: e for e in events(hub, joined[0])}
    assert "body.state" in shown[acked - 1]["message"]
    assert shown[acked]["message"] == "after"


async def test_a_flood_of_events_keeps_only_the_sites_newest(
    hub: RunningHub, joined: tuple[str, str, Path], site: SiteEnd
) -> None:
    await site.hello()
    for _ in range(4):
        await site.facts(*[("event", event(message=f"flood {i}")) for i in range(30)])
    kept = events(hub, joined[0])
    assert len(kept) == EVENT_LIMIT
    assert [e["seq"] for e in kept] == list(range(site.seq - EVENT_LIMIT + 1, site.seq + 1))


async def test_a_capacity_of_2_to_the_64_vcpus_is_not_recorded(
    hub: RunningHub, joined: tuple[str, str, Path], site: SiteEnd
) -> None:
    name = joined[0]
    huge = {"vcpus": 2**64 - 1, "ram_mb": 2**64 - 1, "disk_gb": 100}
    await site.hello(capacity=huge)  # the session opens: a bad figure is not a bad site
    shown = hub.ok("GET", f"/v1/sites/{name}")
    assert shown["state"] == "online"
    assert shown["capacity"]["vcpus"] < 2**64 - 1 and shown.get("reported_at") is None
    assert "capacity report refused" in hub.log and "hello.capacity.vcpus" in hub.log
    fits = frames.Capacity(vcpus=64, ram_mb=262144, disk_gb=2000, used_vcpus=4)
    await site.send(frames.Ping(v=versions.CURRENT, capacity=fits))
    await site.until(frames.Pong)
    deadline = time.monotonic() + 30  # the sweep writes it
    while hub.ok("GET", f"/v1/sites/{name}")["capacity"]["vcpus"] != 64:
        assert time.monotonic() < deadline, "a good report after a refused one is recorded"
        await asyncio.sleep(0.2)


def stored(hub: RunningHub, query: str, *args: Any) -> int:
    """A count in the hub's store (observed, read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{hub.data_dir / 'hub.db'}?mode=ro",
                                            uri=True)) as db:  # fmt: skip
        return int(db.execute(query, args).fetchone()[0])


def statuses_stored(hub: RunningHub, site_id: str) -> int:
    """The site's status records in the hub's store."""
    query = "SELECT count(*) FROM objects WHERE kind = 'site_status' AND key LIKE ?"
    return stored(hub, query, f"{site_id}/%")


def made_here_stored(hub: RunningHub, site_id: str) -> int:
    """The objects made at the site that the hub adopted (origin ``site``) in its store."""
    query = ("SELECT count(*) FROM objects WHERE kind = 'site_object' AND key LIKE ?"
             " AND json_extract(value, '$.origin') = 'site'")  # fmt: skip
    return stored(hub, query, f"{site_id}/%")


def network_made_here(op: str = "create", object_id: str | None = None) -> dict[str, Any]:
    """A site-authored operation record on a network the site made (a fresh id: create)."""
    made = object_id or ids.site_id(3)
    desired = {"kind": "network", "meta": {"id": made, "name": "made-here", "project_id": None},
               "spec": {}, "origin": "site"}  # fmt: skip
    return {"op": op, "kind": "network", "id": made, "base_hub_revision": None,
            "desired": None if op == "delete" else desired, "at": time.time(),
            "actor": "field-engineer"}  # fmt: skip


async def test_statuses_of_made_up_objects_are_refused_not_stored(
    hub: RunningHub, joined: tuple[str, str, Path], site: SiteEnd
) -> None:
    """Each status of a made-up id was stored as a new record: a site could fill the hub's
    store without bound. Statuses of what the hub placed there or adopted still are."""
    name, site_id, _ = joined
    logged = hub.log.count(REFUSED)
    await site.hello()
    before = statuses_stored(hub, site_id)
    padding = "p" * 4000  # each record 4 KB: 300 of them, 1.2 MB, before the fix
    made_up: list[str] = []
    for _ in range(3):
        frame = [ids.hub_id() for _ in range(100)]
        made_up += frame
        await site.facts(*[("status", {"kind": "server", "id": i, "seq": 1, "state": "ACTIVE",
                                       "message": padding}) for i in frame])  # fmt: skip
    assert statuses_stored(hub, site_id) == before  # not one more record
    newest = events(hub, name)[-1]
    assert newest["reason"] == "refused_fact" and f"server {made_up[-1]}" in newest["message"]
    assert hub.log.count(REFUSED) == logged + 3  # once a frame
    # what the hub placed at the site, and what the site made and the hub adopted, still report
    tenant = hub.tenant("facts-tenant", "facts-member")
    spec = {"mtu": 9000}
    placed = hub.ok("POST", f"/v1/sites/{name}/networks", {"name": "net-a", "spec": spec},
                    token=tenant)["id"]  # fmt: skip
    create = network_made_here()
    made = create["id"]
    await site.facts(
        ("status", {"kind": "network", "id": placed, "seq": 1, "state": "ACTIVE"}),
        ("operation", create),
        ("status", {"kind": "network", "id": made, "seq": 2, "state": "ACTIVE"}),
    )
    for object_id, token in ((placed, tenant), (made, None)):
        shown = hub.ok("GET", f"/v1/sites/{name}/networks/{object_id}", token=token)
        assert shown["status"]["state"] == "ACTIVE", shown
    assert statuses_stored(hub, site_id) == before + 2


async def test_creates_beyond_the_site_object_limit_are_refused_and_the_session_goes_on(
    hub: RunningHub, tmp_path: Path
) -> None:
    """Every ``create`` of a site was adopted as a ``site_object`` record of up to 512 KiB
    and kept for good (only the operation records were budgeted): a site could fill the
    hub's store. Now the hub adopts at most ``site_object_limit`` objects made at a site;
    a create beyond it is refused alone (a ``refused_fact`` event naming the setting),
    acknowledged, and deleting one of them makes room again."""
    # a site of its own: no other test's objects in its count
    joined = join(hub, tmp_path / "agent", "objects-edge")
    name, site_id, _ = joined
    async with session(hub, joined) as site:
        await site.hello()
        creates = [network_made_here() for _ in range(OBJECT_LIMIT + 3)]
        first = site.seq + 1
        acked = await site.facts(*[("operation", c) for c in creates],
                                 ("event", event(message="after")))  # fmt: skip
        assert acked == first + len(creates)  # every one acknowledged: the outbox goes on
        assert made_here_stored(hub, site_id) == OBJECT_LIMIT
        shown = {e["seq"]: e for e in events(hub, name)}
        refused = [seq for seq, e in shown.items() if e["reason"] == "refused_fact"]
        assert refused == list(range(first + OBJECT_LIMIT, first + len(creates)))
        for seq in refused:
            assert "[hub] site_object_limit" in shown[seq]["message"], shown[seq]
            assert creates[seq - first]["id"] in shown[seq]["message"]
        assert shown[acked]["message"] == "after"
        for create, status in ((creates[0], 200), (creates[-1], 404)):
            reply = hub.call("GET", f"/v1/sites/{name}/networks/{create['id']}")
            assert reply.status == status, reply
        # the same session goes on: a delete makes room for one more, and no further
        again = [network_made_here(), network_made_here()]
        await site.facts(("operation", network_made_here("delete", creates[0]["id"])),
                         *[("operation", c) for c in again])  # fmt: skip
        assert made_here_stored(hub, site_id) == OBJECT_LIMIT
        reply = hub.call("GET", f"/v1/sites/{name}/networks/{again[0]['id']}")
        assert reply.status == 200, reply
        assert events(hub, name)[-1]["reason"] == "refused_fact"  # the second one
        assert hub.ok("GET", f"/v1/sites/{name}")["state"] == "online"


def conflicts_stored(hub: RunningHub, site_id: str) -> int:
    query = ("SELECT count(*) FROM objects WHERE kind = 'conflict'"
             " AND json_extract(value, '$.site_id') = ?")  # fmt: skip
    return stored(hub, query, site_id)


async def test_updates_of_made_up_objects_open_conflicts_only_within_the_limit(
    hub: RunningHub, tmp_path: Path
) -> None:
    """A site at its object limit switched from creates to updates of ids the hub never
    had: each opened a conflict of up to 512 KiB, without end. Now changes to an object the
    hub lacks open one conflict per object, counted with the site's own objects."""
    joined = join(hub, tmp_path / "agent", "conflicts-edge")
    name, site_id, _ = joined
    async with session(hub, joined) as site:
        await site.hello()
        made_up = network_made_here()["id"]
        same = [network_made_here("update", made_up) for _ in range(4)]
        others = [network_made_here("update") for _ in range(OBJECT_LIMIT + 2)]
        first = site.seq + 1
        acked = await site.facts(*[("operation", u) for u in [*same, *others]],
                                 ("event", event(message="after")))  # fmt: skip
        assert acked == first + len(same) + len(others)
        assert conflicts_stored(hub, site_id) == OBJECT_LIMIT  # one of them the repeated id
        refusals = [e for e in events(hub, name) if e["reason"] == "refused_fact"]
        assert len(refusals) == 3 and all("site_object_limit" in e["message"] for e in refusals)
        assert events(hub, name)[-1]["message"] == "after"
        assert hub.ok("GET", f"/v1/sites/{name}")["state"] == "online"


async def closed_with(site: SiteEnd) -> tuple[list[int], frames.Error]:
    """The acks the hub sends until its error frame, and that frame."""
    acks = []
    async with asyncio.timeout(20):
        while True:
            msg = await site.ws.receive()
            assert msg.type == aiohttp.WSMsgType.BINARY, (msg.type, msg.data)
            frame = codec.decode(msg.data, max_frame=8 << 20)
            if isinstance(frame, frames.Ack) and frame.seq is not None:
                acks.append(frame.seq)
            if isinstance(frame, frames.Error):
                return acks, frame


@pytest.mark.parametrize("far", ["2^64-1", "2^33 on"])
async def test_a_seq_no_site_counts_to_is_refused_not_acknowledged(
    hub: RunningHub, tmp_path: Path, far: str
) -> None:
    """A fact with seq 2^64-1 was recorded and acknowledged: it became the site's acked_seq,
    and every later fact of the site (seq 2, 3...) was ignored as recorded already, without
    a word. A bug or a corrupt site database would do the same. Now the hub records the
    facts before it, then closes the session with ``bad_seq`` naming it."""
    joined = join(hub, tmp_path / "agent", f"seq-edge-{far[2:4]}")
    name = joined[0]
    async with session(hub, joined) as site:
        await site.hello()
        before = site.seq + 1
        seq = 2**64 - 1 if far == "2^64-1" else before + 2**33
        bad = frames.Fact(seq=seq, type="event", body=event(message="corrupt"))
        good = frames.Fact(seq=before, type="event", body=event(message="before it"))
        await site.send(frames.Facts(v=versions.CURRENT, items=(good, bad)))
        acks, error = await closed_with(site)
        assert acks == [before] and error.code == "bad_seq", (acks, error)
        assert f"fact seq {seq} (event) follows {before}" in error.message
    assert f"fact seq {seq}" in hub.log
    async with session(hub, joined) as site:  # the site's later facts are recorded
        welcome = await site.hello()
        assert welcome.acked_seq == before
        assert await site.facts(("event", event(message="after"))) == before + 1
    assert events(hub, name)[-1]["message"] == "after"
    assert hub.ok("GET", f"/v1/sites/{name}")["sync"]["acked_seq"] == before + 1


HEALED = "taken as unknown"  # what the hub logs of an acked_seq no site counts to, once


def acked_as_an_older_hub_left_it(name: str, seq: int) -> Callable[[Path], None]:
    """Site ``name``'s record in a stopped hub's store as a hub from before ``bad_seq`` left
    it once the site had sent a fact numbered ``seq``: its ``acked_seq``."""

    def write(data_dir: Path) -> None:
        async def edit() -> None:
            store = SQLiteStore(data_dir / "hub.db")
            try:
                site = (await store.get("site", name)).value
                await store.put("site", name, {**site, "sync": {**site["sync"], "acked_seq": seq}})
            finally:
                await store.close()

        asyncio.run(edit())

    return write


def made(hub: RunningHub, name: str) -> list[str]:
    """The names of the networks the site made, as the hub recorded their operations."""
    items = hub.ok("GET", f"/v1/sites/{name}/operations?limit=1000")["items"]
    return [op["operation"]["desired"]["meta"]["name"] for op in items
            if op["outcome"] == "adopted"]  # fmt: skip


def synced(hub: RunningHub, name: str) -> dict[str, Any]:
    return dict(hub.ok("GET", f"/v1/sites/{name}")["sync"])


def until(what: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.2)
    return found


def test_an_acked_seq_of_2_to_the_64_an_older_hub_recorded_heals_at_the_sites_hello(
    tmp_path: Path,
) -> None:
    """Before ``bad_seq``, a fact numbered 2^64-1 was acknowledged and became the site's
    ``acked_seq`` at the hub, and the site record kept it: every welcome said so, the site
    (whose counter holds no such number) failed each session at once, and nothing it did
    reached the hub again. Now the hub takes an ``acked_seq`` past any site's counter as
    unknown at the site's next hello: the welcome says 0, the site sends again all it holds
    (each fact recorded once), and the hub logs it once. A real hub and a real agent."""
    name = f"healed-{secrets.token_hex(3)}"
    work = tmp_path / "site"
    with running_hub(tmp_path / "hub") as hub:
        assert site_join(work / "agent", hub.join_token(name)["code"]).returncode == 0
        with running_site(work, drivers="fake") as site:
            site.ok("POST", "/v1/networks", {"name": "before"})
            until(lambda: made(hub, name) == ["before"])
            site.agent.stop()
            hub.restart(between=acked_as_an_older_hub_left_it(name, 2**64 - 1))
            assert synced(hub, name)["acked_seq"] == 2**64 - 1
            site.agent.start()
            site.ok("POST", "/v1/networks", {"name": "after"})
            until(lambda: made(hub, name) == ["before", "after"])  # each recorded once
            sync = until(lambda: (s := synced(hub, name))["acked_seq"] >= s["sent_seq"] and s)
            assert 0 < sync["acked_seq"] < 2**53
            site.agent.stop()  # its next hello finds the record healed
            site.agent.start()
            until(lambda: synced(hub, name)["sessions"] > sync["sessions"])
    assert hub.log.count(HEALED) == 1, hub.log[-3000:]
