"""pyroute2 forks a child to work inside a namespace and stops it with SIGTERM; that must
never reach the agent's own SIGTERM handler (it once did, through asyncio's wakeup fd, and
shut the agent down whenever it touched a link in another namespace)."""

from __future__ import annotations

import asyncio
import signal

import pytest

from atoll.site_agent.drivers.network.links import HostLinks
from atoll.testbed.services.netns import HostNetwork

pytestmark = pytest.mark.integration


async def test_namespaced_link_calls_do_not_signal_the_agent() -> None:
    net = HostNetwork()
    namespace = net.netns("fork")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        links = HostLinks(namespace)
        for _ in range(30):
            assert await asyncio.to_thread(links.exists, "lo")
        await asyncio.sleep(0.5)  # a stray "SIGTERM" in the loop's wakeup fd runs by now
        assert not stop.is_set(), "a child's SIGTERM reached the parent's handler"
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        net.close()
