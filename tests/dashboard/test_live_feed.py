"""The dashboard's overview and live feed on a hub app over a MemoryStore: the overview's
aggregates and paging, and server-sent events (coalesced per object, filtered to what the
caller may see, replayed after a reconnect with ``Last-Event-ID``, or a ``resync``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import ClientResponse

from atoll.errors import TooManyRequests
from atoll.hub.dashboard.events import Broadcaster, Event, Listener, visibility
from atoll.hub.dashboard.fleet import overview
from atoll.hub.store.memory import MemoryStore
from atoll.tokens import Claims
from tests.hub.conftest import api, signing_key  # noqa: F401 (fixtures)
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, Api

COOKIE = "__Host-atoll_session"


def site(
    name: str, state: str, region: str = "north", at: tuple[float, float] | None = None
) -> dict[str, Any]:
    location = {"latitude": at[0], "longitude": at[1]} if at else None
    return {
        "name": name,
        "state": state,
        "region": region,
        "location": location,
        "last_seen": None,
        "sync": {"pending_changes": 2, "sent_seq": 9, "acked_seq": 7},
    }


@pytest.mark.unit
def test_the_overview_counts_the_whole_fleet_and_pages_its_rows() -> None:
    sites = [
        site(
            f"s{i:02d}",
            "online" if i % 3 else "offline",
            "north" if i < 6 else "south",
            (45.0 + i, 5.0) if i < 2 else None,
        )
        for i in range(10)
    ]
    first = overview(sites, 4, None, None, None)
    assert first["total"] == 10
    assert first["counts"] == {"enrolling": 0, "online": 6, "offline": 4, "maintenance": 0}
    assert first["regions"] == [
        {"region": "north", "counts": {"offline": 2, "online": 4}},
        {"region": "south", "counts": {"online": 2, "offline": 2}},
    ]
    assert [p[0] for p in first["points"]] == ["s00", "s01"]
    assert [r["name"] for r in first["sites"]] == ["s00", "s01", "s02", "s03"]
    assert first["sites"][0]["lag"] == 2 and first["sites"][0]["outbox"] == 2
    assert first["next_marker"] == "s03"
    rest = overview(sites, 4, "s03", "offline", None)
    assert [r["name"] for r in rest["sites"]] == ["s06", "s09"] and rest["next_marker"] is None


def claims(system: bool, project_id: str | None = None) -> Claims:
    return Claims(
        token_id="t",
        user="u",
        project="p" if project_id else None,
        system=system,
        roles=("reader",),
        issued_at=0,
        expires_at=1e12,
        project_id=project_id,
    )


@pytest.mark.unit
def test_a_listener_keeps_one_event_per_object_and_only_what_its_caller_may_see() -> None:
    member = Listener(visibility(claims(False, "p1")))
    for revision, (kind, key, project) in enumerate(
        [
            ("site", "s1", None),
            ("site", "s1", None),
            ("conflict", "c1", "p1"),
            ("conflict", "c2", "p2"),
            ("site_event", "x/1", None),
        ],
        1,
    ):
        topic = {"site": "site", "conflict": "conflict"}.get(kind, kind)
        member.offer(Event(revision, topic, kind, key, project, {}))
    events, resync = member.take()
    assert [(e.key, e.revision) for e in events] == [("s1", 2), ("c1", 3)] and not resync


async def test_a_reconnect_replays_what_it_missed_or_asks_for_a_resync() -> None:
    store = MemoryStore()
    broadcaster = Broadcaster(store, keep=2)
    await broadcaster.start()
    try:
        start = broadcaster.since
        await store.put("site", "s1", site("s1", "online"))
        await store.put("user", "u1", {"name": "u1"})  # not the dashboard's business
        await store.put("site", "s2", site("s2", "online"))
        for _ in range(100):
            if broadcaster.since == start + 3:
                break
            await asyncio.sleep(0.01)
        replayed = broadcaster.attach(visibility(claims(True)), start + 1)
        events, resync = replayed.take()
        assert [e.key for e in events] == ["s2"] and not resync
        await store.put("site", "s3", site("s3", "online"))  # s1 leaves the two kept
        for _ in range(100):
            if broadcaster.since == start + 4:
                break
            await asyncio.sleep(0.01)
        too_old = broadcaster.attach(visibility(claims(True)), start)
        assert too_old.take()[1] is True
    finally:
        await broadcaster.stop()


async def read_events(resp: ClientResponse, until: str) -> list[tuple[str, str, str]]:
    """(id, event, data) of each event on the stream, up to the first named ``until``."""
    seen: list[tuple[str, str, str]] = []
    fields: dict[str, str] = {}
    async with asyncio.timeout(20):
        while True:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line == "":
                if "event" in fields:
                    seen.append((fields.get("id", ""), fields["event"], fields.get("data", "")))
                    if fields["event"] == until:
                        return seen
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value


async def test_the_stream_sends_changes_live_and_replays_them_after_a_reconnect(
    api: Api,  # noqa: F811
) -> None:
    signed = await api.client.post("/ui/session", json={"user": ADMIN, "password": ADMIN_PASSWORD})
    assert signed.status == 201
    cookie = {"Cookie": f"{COOKIE}={signed.cookies[COOKIE].value}"}
    csrf = (await signed.json())["csrf_token"]
    stream = await api.client.get("/ui/events", headers=cookie)
    assert stream.status == 200 and stream.content_type == "text/event-stream"
    hello = await read_events(stream, "hello")
    made = await api.client.post(
        "/v1/sites",
        json={"name": "edge-9", "region": "west"},
        headers={**cookie, "X-CSRF-Token": csrf},
    )
    assert made.status == 201, await made.text()
    events = await read_events(stream, "site")
    assert '"name":"edge-9"' in events[-1][2] and '"region":"west"' in events[-1][2]
    stream.close()
    again = await api.client.get("/ui/events", headers={**cookie, "Last-Event-ID": hello[0][0]})
    replayed = await read_events(again, "site")
    assert [e[1] for e in replayed] == ["hello", "site"] and replayed[1][0] == events[-1][0]
    again.close()
    fleet = await api.client.get("/ui/fleet", headers=cookie)
    body = await fleet.json()
    assert body["counts"]["enrolling"] == 1 and body["sites"][0]["name"] == "edge-9"


def test_one_owner_holds_at_most_its_share_of_streams_until_one_ends() -> None:
    broadcaster = Broadcaster(MemoryStore(), per_owner=2)
    first, _ = (broadcaster.attach(visibility(claims(True)), None, "alice") for _ in range(2))
    with pytest.raises(TooManyRequests, match="dashboard_streams_per_user"):
        broadcaster.attach(visibility(claims(True)), None, "alice")
    broadcaster.attach(visibility(claims(True)), None, "bob")
    broadcaster.detach(first)
    broadcaster.detach(first)  # twice: still one place, not two
    broadcaster.attach(visibility(claims(True)), None, "alice")
    with pytest.raises(TooManyRequests):
        broadcaster.attach(visibility(claims(True)), None, "alice")
