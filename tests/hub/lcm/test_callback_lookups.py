"""How the hub looks up and connects to a callback's host (:mod:`atoll.hub.lcm.callbacks`).

Two holes a tenant's DNS opened before, each a test here:

- Rebinding: the address check and the connection each looked the name up, so a DNS answer
  that changed in between (an allowed address for the check, loopback for the connection)
  made the hub POST to its own machine. Now the connection uses only addresses of a lookup
  the rule allows (:class:`CheckedResolver`).
- Hanging lookups: they ran in the event loop's default thread pool (6 threads on 2 cores),
  which the hub's file work shares, so a few callbacks naming a host whose DNS never
  answers stopped that work. Now they have a pool of their own.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from atoll.errors import TemporaryError
from atoll.hub.lcm import callbacks
from atoll.hub.lcm.callbacks import CallbackRefused, Subscriber, check_address
from atoll.nfv.lcm.notifications import LccnSubscriptionRequest

ALLOWED = "192.0.2.10"  # TEST-NET-1: an address the rule allows (nothing listens there)
_real_getaddrinfo = socket.getaddrinfo


def _answer(host: str, port: Any) -> list[tuple[Any, ...]]:
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (host, int(port or 0)))]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A DNS for names under ``.test``: ``answers[name]`` is a list of addresses, one per
    lookup in turn (the last repeats), or a ``threading.Event`` the lookup waits for."""
    answers: dict[str, Any] = {}
    asked: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kw: Any) -> list[tuple[Any, ...]]:
        if not str(host).endswith(".test"):
            return _real_getaddrinfo(host, port, *args, **kw)
        asked.append(host)
        answer = answers[host]
        if isinstance(answer, threading.Event):
            answer.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return _answer(answer.pop(0) if len(answer) > 1 else answer[0], port)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield {"answers": answers, "asked": asked}


async def test_a_name_rebound_to_loopback_after_the_check_is_not_connected(
    dns: dict[str, Any],
) -> None:
    got: list[str] = []

    async def callback(request: web.Request) -> web.Response:
        got.append(request.method)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_route("*", "/cb", callback)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        # the check sees an allowed address; every later lookup says loopback
        dns["answers"]["rebind.test"] = [ALLOWED, "127.0.0.1"]
        request = LccnSubscriptionRequest.from_wire(
            {"callbackUri": f"http://rebind.test:{server.port}/cb"}
        )
        subscriber = Subscriber(request, timeout=5.0, allow_loopback=False, clock=lambda: 0.0)
        try:
            with pytest.raises(TemporaryError):
                await subscriber.notify({"notificationType": "VnfLcmOperationOccurrence"})
        finally:
            await subscriber.close()
        assert got == []  # nothing reached the hub's own machine
        assert len(dns["asked"]) >= 2  # the connection did look the name up again
    finally:
        await server.close()


async def test_lookups_that_hang_leave_the_default_pool_to_the_hub(dns: dict[str, Any]) -> None:
    hang = dns["answers"]["hang.test"] = threading.Event()
    checks = [
        asyncio.create_task(check_address(f"http://hang.test/{i}", "url", allow_loopback=False))
        for i in range(12)
    ]
    try:
        await asyncio.sleep(0.2)  # every lookup thread of the callbacks is waiting now
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 2.0) == "free"
    finally:
        hang.set()
        outcomes = await asyncio.gather(*checks, return_exceptions=True)
    assert all(isinstance(o, CallbackRefused) for o in outcomes), outcomes
    assert len(dns["asked"]) == 12


async def test_the_resolver_keeps_only_addresses_the_rule_allows(dns: dict[str, Any]) -> None:
    dns["answers"]["meta.test"] = ["169.254.169.254"]
    with pytest.raises(OSError, match="no address the hub may call"):
        await callbacks.CheckedResolver(allow_loopback=False).resolve("meta.test", 80)
    (found,) = await callbacks.CheckedResolver(allow_loopback=True).resolve("meta.test", 80)
    assert (found["host"], found["port"]) == ("169.254.169.254", 80)
