"""What only the etcd store does: survive a member going down, compaction, shared clusters."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import urllib.request

import pytest

from atoll.errors import TemporaryError
from atoll.hub.store.base import Compacted, ListQuery
from atoll.hub.store.etcd import EtcdStore
from atoll.testbed.services.etcd import EtcdCluster

pytestmark = pytest.mark.integration


def _etcd_post(
    cluster: EtcdCluster, path: str, body: dict[str, object], member: int = 0
) -> dict[str, object]:
    host, port = cluster.endpoints[member]
    request = urllib.request.Request(
        f"http://{host}:{port}/v3{path}", data=json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 (loopback etcd)
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _leader_first(cluster: EtcdCluster) -> list[int]:
    """Member indexes, the current raft leader first (the hardest member to lose)."""
    statuses = [_etcd_post(cluster, "/maintenance/status", {}, member=i) for i in range(3)]
    leader = statuses[0]["leader"]
    ids = [s["header"]["member_id"] for s in statuses]  # type: ignore[index]
    first = ids.index(leader)
    return [first] + [i for i in range(3) if i != first]


async def test_keeps_serving_when_the_leader_member_stops(etcd_cluster: EtcdCluster) -> None:
    order = _leader_first(etcd_cluster)
    endpoints = [etcd_cluster.endpoints[i] for i in order]
    store = EtcdStore(endpoints, timeout=15.0, poll_interval=0.2)
    try:
        before = await store.put("site", "edge-1", {"state": "online"})
        seen: list[str] = []

        async def follow() -> None:
            async for change in store.watch(before.revision):
                seen.append(change.key)
                if len(seen) == 2:
                    return

        watching = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        # The leader, and the endpoint the store talks to.
        await asyncio.to_thread(etcd_cluster.members[order[0]].stop)
        started = time.monotonic()
        after = await store.put("site", "edge-2", {"state": "online"})
        assert after.revision > before.revision
        assert (await store.get("site", "edge-1")).value == {"state": "online"}
        updated = await store.put(
            "site", "edge-1", {"state": "offline"}, expect_revision=before.revision
        )
        page = await store.list(ListQuery("site"))
        assert [r.key for r in page.items] == ["edge-1", "edge-2"]
        changes = await store.changes(before.revision)
        assert [c.revision for c in changes] == [after.revision, updated.revision]
        await asyncio.wait_for(watching, 15)
        assert seen == ["edge-2", "edge-1"]
        assert time.monotonic() - started < 15

        # A client whose first endpoint is the stopped member also works.
        fresh = EtcdStore(endpoints, timeout=15.0)
        try:
            assert (await fresh.get("site", "edge-1")).revision == updated.revision
        finally:
            await fresh.close()
    finally:
        await store.close()


async def test_all_members_down_is_a_temporary_error(etcd: EtcdCluster) -> None:
    store = EtcdStore(etcd.endpoints, timeout=1.0)
    try:
        await store.put("project", "p", {})
        await asyncio.to_thread(etcd.members[0].stop)
        with pytest.raises(TemporaryError, match="no etcd endpoint"):
            await store.get("project", "p")
    finally:
        await store.close()


async def test_data_survives_an_etcd_restart(etcd: EtcdCluster) -> None:
    store = EtcdStore(etcd.endpoints, timeout=15.0)
    try:
        made = await store.put("project", "p", {"name": "p"})
        member = etcd.members[0]
        await asyncio.to_thread(member.stop)
        await asyncio.to_thread(member.start, "existing")
        await asyncio.to_thread(member.wait_healthy)
        assert await store.get("project", "p") == made
        assert await store.revision() == made.revision
    finally:
        await store.close()


async def test_compacted_history_raises_compacted(etcd: EtcdCluster) -> None:
    store = EtcdStore(etcd.endpoints, timeout=5.0)
    try:
        revs = [(await store.put("site", f"s{i}", {"i": i})).revision for i in range(5)]
        _etcd_post(etcd, "/kv/compaction", {"revision": revs[2], "physical": True})
        assert [c.revision for c in await store.changes(revs[2])] == revs[3:]
        with pytest.raises(Compacted) as caught:
            await store.changes(revs[0])
        assert caught.value.revision == revs[-1]
        with pytest.raises(Compacted):  # one kind's share of it is gone as well
            await store.changes(revs[0], kind="site", key_prefix="s")
        with pytest.raises(Compacted):
            await anext(store.watch(0))
    finally:
        await store.close()


async def test_other_data_in_a_shared_cluster_is_ignored(shared_etcd: EtcdCluster) -> None:
    etcd = shared_etcd
    store = EtcdStore(etcd.endpoints, prefix=f"/atoll-{secrets.token_hex(4)}/")
    try:
        assert await store.revision() == 0
        made = await store.put("project", "p", {})
        key = base64.b64encode(b"/someone-else/x").decode()
        _etcd_post(etcd, "/kv/put", {"key": key, "value": ""})
        assert await store.revision() == made.revision
        assert [c.key for c in await store.changes(0)] == ["p"]
        later = await store.put("project", "q", {})
        assert later.revision == made.revision + 2  # etcd's revision is cluster-wide
        assert [c.key for c in await store.changes(made.revision)] == ["q"]
    finally:
        await store.close()


async def test_watchers_do_not_take_the_worker_threads(shared_etcd: EtcdCluster) -> None:
    prefix = f"/atoll-{secrets.token_hex(4)}/"
    store = EtcdStore(shared_etcd.endpoints, prefix=prefix, workers=2, poll_interval=0.5)
    try:
        start = await store.revision()
        watches = [store.watch(start) for _ in range(10)]
        waiting = [asyncio.ensure_future(anext(w)) for w in watches]
        await asyncio.sleep(0.3)
        started = time.monotonic()
        made = await store.put("site", "s", {})
        assert (await store.get("site", "s")) == made
        assert time.monotonic() - started < 2  # not queued behind 10 long-polls
        changes = await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert {c.revision for c in changes} == {made.revision}
        for w in watches:
            await w.aclose()  # type: ignore[attr-defined]
    finally:
        await store.close()
