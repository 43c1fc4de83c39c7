"""What a joined site's telemetry can make the running hub keep and show: bounded series.

A compromised or buggy site holds a real certificate and sends ``telemetry`` facts (here as
``atoll site-agent`` would, over mTLS, but saying what the test tells it). Each point was
bounded (16 labels, 256-character values, 4000 points a batch), the number of series was
not: every batch of new label values was 4000 more series kept for the retention (a week),
each one more line of the hub's ``/metrics`` and more rows of its telemetry store, without
end. Worse, ``/metrics`` padded every series with every label name its metric had at any
site, so series with label names of their own made the page grow as their square. Now a
site keeps at most ``[hub] site_series_limit`` series; points of new series beyond it are
refused (a ``refused_fact`` event, logged once a frame, the batch acknowledged) while its
series go on, and each series is shown with its own labels only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atoll.hub.telemetry.keeper import FIELDS
from tests.security.daemons import RunningHub, running_hub
from tests.security.test_site_facts import REFUSED, events, join, session

SERIES_LIMIT = 100


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    config = f"[hub]\nsite_series_limit = {SERIES_LIMIT}\n"
    with running_hub(tmp_path_factory.mktemp("series-hub"), config=config) as running:
        yield running


def batch(series: list[dict[str, str]], ts: float, value: float = 1.0) -> dict[str, Any]:
    """One minute of ``series`` (their labels) of one metric, as a site's ring ships it."""
    points = [["probe_bytes", labels, ts, value, value, value, 6] for labels in series]
    return {"step": 60, "fields": FIELDS, "points": points}


def site_lines(hub: RunningHub, name: str) -> list[str]:
    """The hub's /metrics lines of the site's telemetry (``atoll_site_probe_bytes``)."""
    reply = hub.call("GET", "/metrics")
    assert reply.status == 200, reply
    assert len(reply.raw) < 4 << 20, f"/metrics is {len(reply.raw)} bytes"
    return [line for line in reply.raw.decode().splitlines()
            if line.startswith("atoll_site_probe_bytes{") and f'site="{name}"' in line]  # fmt: skip


async def test_series_beyond_the_limit_are_refused_and_the_sites_series_go_on(
    hub: RunningHub, tmp_path: Path
) -> None:
    joined = join(hub, tmp_path / "agent", "series-edge")
    name = joined[0]
    minute = (time.time() // 60 - 5) * 60
    # each series with 16 label names of its own: the worst a point may have
    own = [{f"k{i}_{j}": "v" for j in range(16)} for i in range(60)]
    flood = [{f"f{i}_{j}": "x" * 20 for j in range(16)} for i in range(600)]
    async with session(hub, joined) as site:
        await site.hello()
        await site.facts(("telemetry", batch(own, minute)))
        logged = hub.log.count(REFUSED)
        first = site.seq + 1
        acked = await site.facts(("telemetry", batch(own + flood, minute + 60, 2.0)),
                                 ("telemetry", batch(flood, minute + 120)),
                                 ("telemetry", batch(own, minute + 180, 3.0)))  # fmt: skip
        assert acked == first + 2  # every batch acknowledged: the outbox goes on
        assert hub.log.count(REFUSED) == logged + 1  # once for the frame
        lines = site_lines(hub, name)
        assert len(lines) == SERIES_LIMIT, len(lines)  # 660 before
        for labels in own:  # the site's own series go on, with their newest point
            key = next(iter(labels))
            shown = [line for line in lines if f'{key}="v"' in line]
            assert len(shown) == 1 and shown[0].endswith(" 3.0"), shown
            assert shown[0].count('="') == 17  # its labels and site, no other series' names
        kept = {e["seq"]: e for e in events(hub, name)}
        for seq, refused in ((first, 560), (first + 1, 560)):
            assert kept[seq]["reason"] == "refused_fact", kept[seq]
            assert f"{refused} points of {refused} new series" in kept[seq]["message"]
            assert "[hub] site_series_limit" in kept[seq]["message"]
        assert first + 2 not in kept  # nothing refused of the site's own series
        assert hub.ok("GET", f"/v1/sites/{name}")["state"] == "online"
