"""A site's certificate renewals are counted in its record: every hub on one store counts the
same ones (:func:`atoll.hub.sites.registry.take_renewal`), on every backend.

Each handle is another hub process's view of the store (``Backend.open``: another SQLite
connection to the file, another etcd client). Before, each hub process kept its own count in
memory, so N hubs on one etcd store allowed a site N times ``site_renewals_per_hour``.
"""

from __future__ import annotations

import asyncio

import pytest

from atoll.errors import TooManyRequests
from atoll.hub.sites import registry
from atoll.throttle import RateLimit
from tests.hub.store.conftest import Backend

NOW = 1_900_000_000.0
LIMIT = RateLimit(limit=6, window=3600.0, what="certificate renewals")


async def test_hubs_sharing_a_store_count_a_sites_renewals_together(backend: Backend) -> None:
    hubs = [backend.open() for _ in range(3)]
    await hubs[0].put(registry.SITE_KIND, "edge-1", registry.new_site("edge-1", {}, NOW))
    for i in range(LIMIT.limit):  # each hub in turn, as a site's retries land on any of them
        await registry.take_renewal(hubs[i % 3], "edge-1", LIMIT, NOW + 60 * i)
    for hub in hubs:
        with pytest.raises(TooManyRequests) as refused:
            await registry.take_renewal(hub, "edge-1", LIMIT, NOW + 600)
        assert refused.value.retry_after == 3600 - 600 + 1
        assert "site edge-1 had its 6 certificate renewals" in refused.value.message
    kept = (await hubs[1].get(registry.SITE_KIND, "edge-1")).value[registry.RENEWALS]
    assert kept == [NOW + 60 * i for i in range(LIMIT.limit)]  # a refusal writes nothing
    await registry.take_renewal(hubs[2], "edge-1", LIMIT, NOW + 3600)  # the first one left
    await hubs[0].put(registry.SITE_KIND, "edge-2", registry.new_site("edge-2", {}, NOW))
    await registry.take_renewal(hubs[0], "edge-2", LIMIT, NOW + 600)  # its own count


async def test_racing_renewals_at_several_hubs_are_allowed_the_limit_in_all(
    backend: Backend,
) -> None:
    hubs = [backend.open() for _ in range(3)]
    await hubs[0].put(registry.SITE_KIND, "edge-1", registry.new_site("edge-1", {}, NOW))
    results = await asyncio.gather(
        *(registry.take_renewal(hubs[i % 3], "edge-1", LIMIT, NOW + i) for i in range(18)),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == LIMIT.limit, results
    assert all(isinstance(r, TooManyRequests) for r in results if r is not None), results
    kept = (await hubs[0].get(registry.SITE_KIND, "edge-1")).value[registry.RENEWALS]
    assert len(kept) == LIMIT.limit
