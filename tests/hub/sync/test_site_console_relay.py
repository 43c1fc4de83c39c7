"""A server's console read through a hub process that does not hold the site's session:
two hub apps on one store (as two processes on one etcd store), the site's session at the
first, the API call at the second, which relays it through the store
(:mod:`atoll.hub.sync.relay`). The same answers and the same errors as at the first.

The real two-process test (two ``atoll hub serve`` on one etcd, a real agent) is
``tests/security/test_site_console_relay.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from atoll.hub.sites.registry import edit_site
from atoll.hub.store.memory import MemoryStore
from atoll.hub.store.query import list_all
from atoll.hub.sync.relay import KIND
from atoll.hub.sync.server import SERVER
from atoll.sync import frames
from tests.hub.sync.synchub import SyncHub, sync_hub
from tests.hub.sync.test_site_console import built, connected, console_path, placed_server
from tests.hub.sync.test_sync_sessions import project_member
from tests.site_agent.site_harness import make_site

pytestmark = pytest.mark.integration


@asynccontextmanager
async def two_hubs(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[SyncHub, SyncHub]]:
    """Two hub apps on one store and one data dir (the same CA and keys), as two hub
    processes of one scale-out hub."""
    store = MemoryStore()
    async with (
        sync_hub(tmp_path, store, **overrides) as first,
        sync_hub(tmp_path, store, **overrides) as second,
    ):
        yield first, second


async def relayed(hub: SyncHub) -> int:
    """Relay records in the store's history (requests and replies written)."""
    return sum(c.kind == KIND and c.op == "put" for c in await hub.store.changes(0, 100000))


async def test_the_console_reads_the_same_through_the_process_without_the_session(
    tmp_path: Path,
) -> None:
    (tmp_path / "site").mkdir()
    site = await make_site(tmp_path / "site")
    try:
        async with two_hubs(tmp_path) as (first, second), connected(first, site) as client:
            site_id = client.link.site_id
            assert second.app[SERVER].session_of(site_id) is None  # the first holds it
            token = await project_member(first)
            rival = await project_member(first, "rival")
            server = await placed_server(first, token)
            await built(site, server["id"])
            await site.compute.reboot(server["id"])
            local = await site.compute.read_console(server["id"])

            here = await first.ok("POST", console_path(server), {}, token)
            there = await second.ok("POST", console_path(server), {}, token)
            assert there == here == {"server": server["id"], "site": "edge-1", "output": local,
                                     "lines": local.count("\n"), "truncated": False}  # fmt: skip
            one = await second.ok("POST", console_path(server), {"length": 1}, token)
            assert one["output"] == local.splitlines(keepends=True)[-1]
            assert await list_all(second.store, KIND, {}) == []  # nothing left behind

            # another project's tenant is refused by the asking process: nothing is relayed
            before = await relayed(second)
            hidden = await second.call("POST", console_path(server), {}, rival)
            assert hidden.status == 404, hidden
            assert await relayed(second) == before
    finally:
        await site.close()


async def test_errors_through_the_relay_are_those_of_the_process_with_the_session(
    tmp_path: Path,
) -> None:
    async with two_hubs(tmp_path, sync_request_timeout=1.0) as (first, second):
        token = await project_member(first)
        edge = await first.add_site("edge-1")
        server = await placed_server(first, token)
        path = console_path(server)

        old = await first.connect(edge)
        assert isinstance(await old.hello(speaks=(1, 2)), frames.Welcome)
        reply = await second.call("POST", path, {}, token)
        assert reply.status == 409 and reply.body["error"]["code"] == "site_too_old", reply
        assert "site edge-1's agent is too old" in reply.body["error"]["message"]
        await old.close()

        silent = await first.connect(edge)
        assert isinstance(await silent.hello(), frames.Welcome)
        reply = await second.call("POST", path, {"length": 7}, token)
        assert reply.status == 504 and reply.body["error"]["code"] == "site_timeout", reply
        assert "site edge-1 did not answer within 1 s" in reply.body["error"]["message"]
        asked = await silent.until(frames.Console)
        assert (asked.server_id, asked.lines) == (server["id"], 7)  # what was authorized

        call = asyncio.create_task(second.call("POST", path, {}, token))
        await silent.until(frames.Console)
        await silent.close()  # the session ends while the request waits at its site
        async with asyncio.timeout(5):
            reply = await call
        assert reply.status == 503 and reply.body["error"]["code"] == "site_not_connected"
        assert "another" not in reply.body["error"]["message"]

        answering = await first.connect(edge)
        assert isinstance(await answering.hello(), frames.Welcome)
        call = asyncio.create_task(second.call("POST", path, {}, token))
        asked = await answering.until(frames.Console)
        await answering.send(frames.ConsoleReply(v=3, request=asked.request, error="not_found",
                                                 message="no such domain"))  # fmt: skip
        reply = await call
        assert reply.status == 409 and reply.body["error"]["code"] == "no_console", reply
        assert "site edge-1 has no console of server" in reply.body["error"]["message"]
        await answering.close()
        assert await list_all(second.store, KIND, {}) == []


async def test_a_site_no_process_holds_is_not_connected_after_the_wait(tmp_path: Path) -> None:
    """The site record says online with a session, but no process holds one (the one that
    did has died, and the record is not yet marked offline): no one takes the request."""
    async with two_hubs(tmp_path, sync_request_timeout=0.5) as (first, second):
        token = await project_member(first)
        await first.add_site("edge-1")
        server = await placed_server(first, token)
        heard = {"session": "gone", "last_heard": time.time()}  # not yet offline
        await edit_site(first.store, "edge-1", lambda site: {
            **site, "state": "online", "sync": {**site.get("sync", {}), **heard},
        })  # fmt: skip
        reply = await second.call("POST", console_path(server), {}, token)
        assert reply.status == 503, reply
        assert reply.body["error"]["code"] == "site_not_connected"
        assert reply.body["error"]["message"].startswith(
            "site edge-1 is not connected: no hub process holding its sync session took the "
            "request within 0.5 s"
        )
        assert await list_all(second.store, KIND, {}) == []
