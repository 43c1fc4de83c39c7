"""The zeroconf advert as a daemon starts and stops it, on the host's real multicast link."""

from __future__ import annotations

import asyncio
import logging
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


def test_a_socket_error_of_zeroconf_is_one_line_in_the_daemons_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seen in CI: a hub advertising on a test's bridge that was removed meanwhile logged
    zeroconf's ``[Errno 101] Network is unreachable`` with a traceback."""
    from zeroconf._logger import QuietLogger

    import atoll.sync.discovery  # noqa: F401 (installs the filter, as a daemon does)

    unreachable = OSError(101, "Network is unreachable")
    with caplog.at_level(logging.DEBUG, logger="zeroconf"):
        QuietLogger.log_exception_once(
            unreachable, "Error with socket 7 (('10.151.211.1', 5353))): %s", unreachable
        )
    said = [r for r in caplog.records if r.name == "zeroconf"]
    assert said and all(r.exc_info is None for r in said), said
    assert "Network is unreachable" in caplog.text and "Traceback" not in caplog.text
    bug = ValueError("not a socket's error")
    with caplog.at_level(logging.DEBUG, logger="zeroconf"):
        QuietLogger.log_exception_once(bug, "Error with socket 8: %s", bug)
    assert caplog.records[-1].exc_info is not None  # anything else keeps its traceback
