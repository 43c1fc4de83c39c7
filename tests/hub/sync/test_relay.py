"""Requests relayed through the hub store between hub processes (:mod:`atoll.hub.sync.relay`).

Two relays share one store, as two hub processes do: on the memory store one object, on
SQLite two handles on one file (what two processes on one store file have). One of them
"holds" the site (a fake session: an ``answer`` that says what it was asked); the other
asks. After every outcome the store holds no record of the relay's kind.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest

from atoll.hub.store.base import Store
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.query import list_all
from atoll.hub.store.sqlite import SQLiteStore
from atoll.hub.sync import console
from atoll.hub.sync.relay import (
    KIND,
    MAX_WAITING,
    Asked,
    NotAnswered,
    NotTaken,
    Relay,
    RelayBusy,
)
from atoll.hub.sync.server import SyncServer
from atoll.jsonbody import JSON
from tests.hub.hubtest import FakeClock
from tests.hub.sync.test_sync_sessions import eventually

SITE = "a" * 32
OTHER_SITE = "b" * 32


@dataclass
class FakeSession:
    """The holder's side: what it was asked, and how it answers (after ``delay`` seconds)."""

    sites: set[str] = field(default_factory=lambda: {SITE})
    delay: float = 0.0
    asked: list[Asked] = field(default_factory=list)

    def holds(self, site_id: str) -> bool:
        return site_id in self.sites

    async def answer(self, asked: Asked) -> JSON:
        self.asked.append(asked)
        await asyncio.sleep(self.delay)
        return {"output": f"console of {asked.ask['server_id']}\n", "truncated": False}


async def asked(session: FakeSession, count: int) -> bool:
    return len(session.asked) == count


def not_holding(site_id: str) -> bool:
    return False


async def never_asked(asked: Asked) -> JSON:
    raise AssertionError(f"a relay that holds no site was asked {asked}")


@dataclass
class Pair:
    asker: Relay
    holder: Relay
    session: FakeSession
    stores: tuple[Store, Store]
    clock: FakeClock

    async def left(self) -> list[str]:
        return [record.key for record in await list_all(self.stores[0], KIND, {})]


@asynccontextmanager
async def stores(backend: str, tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    if backend == "memory":
        memory = MemoryStore()
        yield memory, memory
        await memory.close()
        return
    first = SQLiteStore(tmp_path / "hub.db", poll_interval=0.05)
    second = SQLiteStore(tmp_path / "hub.db", poll_interval=0.05)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


BACKENDS = [
    pytest.param("memory", id="memory", marks=pytest.mark.unit),
    pytest.param("sqlite", id="sqlite", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pair]:
    clock = FakeClock()
    session = FakeSession()
    async with stores(request.param, tmp_path) as (one, two):
        asker = Relay(one, not_holding, never_asked, clock, process="asker")
        holder = Relay(two, session.holds, session.answer, clock, process="holder")
        await asker.start()
        await holder.start()
        try:
            yield Pair(asker, holder, session, (one, two), clock)
        finally:
            await asker.stop()
            await holder.stop()


ASK = {"type": "console", "server_id": "c" * 32, "lines": 5}


async def test_the_process_holding_the_site_answers_and_nothing_is_left(pair: Pair) -> None:
    got = await pair.asker.ask(SITE, ASK, within=5.0)
    assert got == {"output": f"console of {'c' * 32}\n", "truncated": False}
    [asked] = pair.session.asked
    assert (asked.site_id, asked.ask, asked.timeout) == (SITE, ASK, 5.0)  # what was written
    assert 0 < asked.wait <= 4.0  # it replies a second before the asker gives up
    assert await pair.left() == []


async def test_several_requests_at_once_each_get_their_own_answer(pair: Pair) -> None:
    asks = [{**ASK, "server_id": f"{i:032x}"} for i in range(8)]
    got = await asyncio.gather(*(pair.asker.ask(SITE, ask, within=5.0) for ask in asks))
    assert [g["output"] for g in got] == [f"console of {a['server_id']}\n" for a in asks]
    assert await pair.left() == []


async def test_no_process_holding_the_site_is_not_taken_at_the_deadline(pair: Pair) -> None:
    with pytest.raises(NotTaken):
        await pair.asker.ask(OTHER_SITE, ASK, within=0.5)
    assert pair.session.asked == [] and await pair.left() == []


async def test_a_holder_that_does_not_reply_in_time_is_named_and_leaves_nothing(
    pair: Pair,
) -> None:
    pair.session.delay = 1.0  # its site answers after the asker gave up
    with pytest.raises(NotAnswered) as caught:
        await pair.asker.ask(SITE, ASK, within=0.5)
    assert caught.value.by == "holder"
    await asyncio.sleep(1.2)  # the holder's late reply finds no request: it writes nothing
    assert await pair.left() == []


async def test_two_processes_holding_the_site_ask_it_once(pair: Pair) -> None:
    """A session superseded at one process while the next opens at another: both may hold
    the site for a moment. The request is taken by one of them (compare-and-swap)."""
    second = FakeSession()
    other = Relay(pair.stores[1], second.holds, second.answer, pair.clock, process="second")
    await other.start()
    try:
        for _ in range(5):
            await pair.asker.ask(SITE, ASK, within=5.0)
        assert len(pair.session.asked) + len(second.asked) == 5
    finally:
        await other.stop()
    assert await pair.left() == []


async def test_too_many_waiting_for_one_site_is_busy_without_a_write(pair: Pair) -> None:
    pair.session.delay = 0.5
    waiting = [
        asyncio.create_task(pair.asker.ask(SITE, ASK, within=5.0)) for _ in range(MAX_WAITING)
    ]
    await eventually(lambda: asked(pair.session, MAX_WAITING))
    before = await pair.stores[0].revision()
    with pytest.raises(RelayBusy):
        await pair.asker.ask(SITE, ASK, within=5.0)
    assert await pair.stores[0].revision() == before  # refused before anything was written
    assert len(await asyncio.gather(*waiting)) == MAX_WAITING
    assert await pair.left() == []


async def test_the_sweep_removes_leftovers_past_their_deadline_only(pair: Pair) -> None:
    """An asking process that stopped while it waited leaves its request (and the holder's
    reply); every process's sweep deletes them once past the deadline and the grace."""
    pair.session.delay = 0.3
    asking = asyncio.create_task(pair.asker.ask(SITE, ASK, within=30.0))
    await eventually(lambda: asked(pair.session, 1))
    asking.cancel()  # the asking process is gone: no one deletes the reply
    with pytest.raises(asyncio.CancelledError):
        await asking
    store = pair.stores[0]

    async def replied() -> bool:
        return any(key.endswith("/reply") for key in await pair.left())

    await eventually(replied)
    await store.put(KIND, "f" * 32, {"site_id": SITE, "deadline": pair.clock.now + 3600.0})
    await store.put(KIND, "junk", {"no": "deadline"})  # not what a hub writes: swept at once
    assert await pair.holder.sweep() == 1
    assert len(await pair.left()) == 2
    pair.clock.now += 30.0 + 60.0 + 1  # the leftover's deadline and the grace have passed
    assert await pair.asker.sweep() == 1
    assert await pair.left() == ["f" * 32]


class NoSessions:
    """A sync server with no session: a relayed request it cannot read never gets that far."""

    def session_of(self, site_id: str) -> None:
        raise AssertionError(f"asked for site {site_id}'s session")


@pytest.mark.parametrize(
    "ask",
    [
        {**ASK, "type": "shell"},
        {**ASK, "server_id": "../etc/passwd"},
        {**ASK, "server_id": 7},
        {**ASK, "lines": 0},
        {**ASK, "lines": 10001},
        {**ASK, "lines": True},
        {"type": "console"},
    ],
)
async def test_a_holder_asks_a_site_only_what_a_relayed_console_request_says(ask: JSON) -> None:
    asked = Asked(SITE, ask, 1.0, 1.0)
    got = await console.answer(cast(SyncServer, NoSessions()), 4096, asked)
    assert got["error"] == "console_unreadable", got
    assert "does not read" in got["message"]


def test_a_relayed_output_is_cut_to_fit_the_store_from_a_whole_line() -> None:
    """A console's escape sequences take six bytes each as JSON: the output is cut so that
    its JSON fits, oldest lines first, and says lines were left out."""
    text = "".join(f"[{i:5}] \x1b[32mOK\x1b[0m ünïcode\n" for i in range(2000))
    out, cut = console.fit(text, 2000, 4096)
    assert cut and len(json.dumps(out)) <= 4096 and text.endswith(out)
    assert out.startswith("[") and len(out) > 1000  # whole lines, and most of the room
    assert console.fit(text[-200:], 5, 4096) == (text[-200:], False)
    # a line longer than the room: its end, as a site cuts one (quotes take two bytes)
    assert console.fit("x" * 100, 1, 10) == ("x" * 8, True)
