"""A server's console log through the hub (``POST /v1/sites/{site}/servers/{id}/console``),
read at its site over the sync session (protocol version 3): the real hub over mTLS with
the real site end of sync (:class:`SyncClient`, the agent core on the drivers' fakes and its
SQLite store), and a hand-driven site end for the sites that are too old, silent, or gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from atoll.errors import NotFound
from atoll.hub.sync.server import SERVER
from atoll.site_agent.console import Consoles
from atoll.site_agent.hub_intent import HubIntent
from atoll.site_agent.sync.requests import Requests
from atoll.site_agent.sync.session import SyncClient
from atoll.sync import codec, frames
from tests.hub.sync.synchub import SyncHub, sync_hub
from tests.hub.sync.test_sync_end_to_end import FAST, joined
from tests.hub.sync.test_sync_sessions import eventually, project_member
from tests.site_agent.site_harness import MiB, Site, make_site

pytestmark = pytest.mark.integration


async def placed_server(hub: SyncHub, token: str, name: str = "web1") -> Any:
    """A server a tenant places at edge-1 (flavor, a catalog image the site holds)."""
    flavor = {"name": "small", "vcpus": 1, "ram_mb": 256, "disk_gb": 1}
    if (await hub.call("GET", "/v1/flavors/small")).status == 404:
        await hub.ok("POST", "/v1/flavors", flavor)
    image = await hub.active_image(f"img-{name}")
    spec = {"flavor": "small", "image": image}
    return await hub.ok("POST", "/v1/sites/edge-1/servers", {"name": name, "spec": spec}, token)


@asynccontextmanager
async def connected(hub: SyncHub, site: Site) -> AsyncIterator[SyncClient]:
    """edge-1 joined and its agent's sync session open, answering consoles as its local
    API reads them."""
    link = await joined(hub, site, "edge-1")
    consoles = Consoles(site.resources, site.compute.read_console)
    client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST,
                        consoles=consoles)  # fmt: skip
    await client.start()

    async def open_() -> bool:
        return hub.app[SERVER].session_of(link.site_id) is not None

    try:
        await eventually(open_)
        yield client
    finally:
        await client.stop()


async def built(site: Site, server_id: str) -> None:
    """The site has the hub's server and its reconciler has built it."""

    async def there() -> bool:
        known = await site.store.call(site.store.object_ids, "server")
        return server_id in known

    await eventually(there)
    for image in await site.store.call(site.store.object_ids, "image"):
        site.storage.preload_image(image, 16 * MiB)

    async def running() -> bool:
        await site.converge(1)
        return server_id in await site.domains()

    await eventually(running)


def console_path(server: Any, site: str = "edge-1") -> str:
    return f"/v1/sites/{site}/servers/{server['id']}/console"


async def test_a_tenant_reads_its_servers_console_as_the_site_reads_it(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    site = await make_site(tmp_path / "site")
    try:
        async with sync_hub(tmp_path) as hub, connected(hub, site):
            token = await project_member(hub)
            other = await project_member(hub, "rival")
            server = await placed_server(hub, token)
            await built(site, server["id"])
            await site.compute.reboot(server["id"])  # a second line on its console
            local = await site.compute.read_console(server["id"])
            assert local.count("\n") >= 2, local

            got = await hub.ok("POST", console_path(server), {}, token)
            assert got == {"server": server["id"], "site": "edge-1", "output": local,
                           "lines": local.count("\n"), "truncated": False}  # fmt: skip
            one = await hub.ok("POST", console_path(server), {"length": 1}, token)
            assert one["output"] == local.splitlines(keepends=True)[-1] and one["lines"] == 1
            by_name = await hub.ok("POST", "/v1/sites/edge-1/servers/web1/console", None, token)
            assert by_name["output"] == local  # no body: the default 100 lines
            admin = await hub.ok("POST", console_path(server), {"length": 2})
            assert admin["output"] == local

            hidden = await hub.call("POST", console_path(server), {}, other)
            assert hidden.status == 404, hidden  # as its GET is for another project
            assert (await hub.call("GET", f"/v1/sites/edge-1/servers/{server['id']}",
                                   token=other)).status == 404  # fmt: skip
            for length in (0, 10001, "all"):
                bad = await hub.call("POST", console_path(server), {"length": length}, token)
                assert bad.status == 400, bad
                assert [p["where"] for p in bad.body["error"]["problems"]] == ["body.length"]
    finally:
        await site.close()


async def test_a_server_the_site_has_not_built_has_no_console_yet(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    site = await make_site(tmp_path / "site")
    try:
        async with sync_hub(tmp_path) as hub, connected(hub, site):
            token = await project_member(hub)
            server = await placed_server(hub, token)  # its image never comes: never built
            reply = await hub.call("POST", console_path(server), {}, token)
            assert reply.status == 409, reply
            assert reply.body["error"]["code"] == "no_console"
            assert "site edge-1 has no console of server" in reply.body["error"]["message"]
    finally:
        await site.close()


async def test_a_site_that_is_not_connected_is_said_so_at_once(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        token = await project_member(hub)
        await hub.add_site("edge-1")
        server = await placed_server(hub, token)
        reply = await hub.call("POST", console_path(server), {}, token)
        assert reply.status == 503, reply
        assert reply.body["error"]["code"] == "site_not_connected"
        assert reply.body["error"]["message"].startswith("site edge-1 is not connected")


async def test_a_site_too_old_for_console_is_refused_without_asking_it(tmp_path: Path) -> None:
    async with sync_hub(tmp_path) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        server = await placed_server(hub, token)
        old = await hub.connect(edge)
        welcome = await old.hello(speaks=(1, 2))
        assert isinstance(welcome, frames.Welcome) and welcome.v == 2
        reply = await hub.call("POST", console_path(server), {}, token)
        assert reply.status == 409, reply
        assert reply.body["error"]["code"] == "site_too_old"
        assert (
            "site edge-1's agent is too old for console through the hub"
            in (reply.body["error"]["message"])
        )
        await old.send(frames.Ping(v=2))  # nothing was sent it: the session goes on
        assert isinstance(await old.until(frames.Pong), frames.Pong)
        await old.close()


async def test_a_site_that_does_not_answer_is_a_504_and_its_late_reply_is_dropped(
    tmp_path: Path,
) -> None:
    async with sync_hub(tmp_path, sync_request_timeout=0.5) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        server = await placed_server(hub, token)
        silent = await hub.connect(edge)
        assert isinstance(await silent.hello(), frames.Welcome)
        reply = await hub.call("POST", console_path(server), {"length": 7}, token)
        assert reply.status == 504, reply
        assert reply.body["error"]["code"] == "site_timeout"
        assert "site edge-1 did not answer within 0.5 s" in reply.body["error"]["message"]
        asked = await silent.until(frames.Console)
        assert (asked.server_id, asked.lines) == (server["id"], 7)
        await silent.send(frames.ConsoleReply(v=3, request=asked.request, output="late\n"))
        await silent.send(frames.Ping(v=3))
        assert isinstance(await silent.until(frames.Pong), frames.Pong)  # still up
        await silent.send(frames.ConsoleReply(v=3, request=asked.request + 1, output="x"))
        assert await silent.closed_with() == "out_of_order"  # a request never sent


async def test_a_session_that_ends_while_asked_answers_at_once(tmp_path: Path) -> None:
    async with sync_hub(tmp_path, sync_request_timeout=30.0) as hub:
        token = await project_member(hub)
        edge = await hub.add_site("edge-1")
        server = await placed_server(hub, token)
        site = await hub.connect(edge)
        assert isinstance(await site.hello(), frames.Welcome)
        call = asyncio.create_task(hub.call("POST", console_path(server), {}, token))
        await site.until(frames.Console)
        await site.close()
        async with asyncio.timeout(5):
            reply = await call
        assert reply.status == 503, reply
        assert reply.body["error"]["code"] == "site_not_connected"


async def test_the_sites_reply_fits_the_frame_and_says_what_it_left_out(tmp_path: Path) -> None:
    site = await make_site(tmp_path)
    try:
        server = await site.resources.create_server({"name": "vm", "flavor": "tiny",
                                                     "image": "cirros"})  # fmt: skip
        log = "".join(f"[{i:6}] a line of its boot \x1b[32mOK\x1b[0m\n" for i in range(9999))

        async def reader(server_id: str, tail: int) -> str:
            assert server_id == server["id"]
            return log[-tail:]

        sent: list[frames.ConsoleReply] = []

        async def send(cls: type[frames.ConsoleReply], **fields: Any) -> None:
            sent.append(cls(v=3, n=1 << 40, **fields))

        requests = Requests(Consoles(site.resources, reader), send, 3, max_frame=4096)
        ask = frames.Console(v=3, request=5, server_id=server["id"], lines=10000)
        await requests.send(frames.ConsoleReply, **await requests.answer(ask))
        reply = sent[-1]
        assert len(codec.encode(reply)) <= 4096
        assert reply.truncated and reply.request == 5 and not reply.error
        assert log.endswith(reply.output) and reply.output.startswith("[")  # whole lines
        few = frames.Console(v=3, request=6, server_id=server["id"], lines=3)
        assert await requests.answer(few) == {
            "request": 6, "output": "".join(log.splitlines(keepends=True)[-3:]),
            "truncated": False,
        }  # fmt: skip
        missing = frames.Console(v=3, request=7, server_id="e" * 32, lines=3)
        answer = await requests.answer(missing)
        assert answer["error"] == "not_found" and answer["message"]
        with pytest.raises(NotFound):
            await site.resources.show("server", "e" * 32)
    finally:
        await site.close()
