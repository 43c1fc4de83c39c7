"""The zeroconf advert as a daemon starts and stops it, on the host's real multicast link."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from atoll.sync.discovery import SITE_SERVICE, Advertiser, multicast_addresses

pytestmark = pytest.mark.integration


def _open_fds() -> set[str]:
    return {fd.name for fd in Path("/proc/self/fd").iterdir()}


async def test_an_advert_stopped_while_it_probes_leaves_no_socket_behind() -> None:
    """A site agent registers its advert in the background and cancels it when it stops (or
    joins) within the second zeroconf probes for the name: nothing may stay open."""
    assert multicast_addresses(), "this host has no multicast link to advertise on"
    before = _open_fds()
    advert = Advertiser(SITE_SERVICE, "probe-cancelled", 8471, {"name": "probe-cancelled"})
    registering = asyncio.create_task(advert.start())
    await asyncio.sleep(0.2)  # zeroconf's sockets are open; the name probe is under way
    assert not registering.done()
    registering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await registering
    assert not advert.running
    assert _open_fds() <= before
