"""The real agent process (``atoll site-agent run`` on real libvirtd and a private OVS) syncing
with the test's hub end (``sync_hub.py``) over mTLS: intent down is built, a local change
goes up as an operation record naming who made it, /health shows the session, and after a
``kill -9`` the agent comes back where it was.
"""

from __future__ import annotations

import asyncio
import itertools
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libvirt
import pytest

from atoll import ids
from atoll.sync.frames import Change, Changes
from atoll.testbed.services.ovs import PrivateOVS
from atoll.testbed.services.ports import free_port
from tests.site_agent import real_site
from tests.site_agent.sync_hub import sync_hub

pytestmark = pytest.mark.integration


async def until(check: Callable[[], Any]) -> None:
    """Poll a blocking check off the loop (the hub end runs on it) until it holds."""
    for _ in itertools.count():  # the test's timeout bounds the wait
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.2)


async def test_the_agent_process_syncs_with_its_hub(
    tmp_path: Path, ovs: PrivateOVS, domain_prefix: str, libvirt_conn: libvirt.virConnect
) -> None:
    names = real_site.Names.unique(domain_prefix)
    data_dir = tmp_path / "agent"
    settings = real_site.settings_for(data_dir, ovs, names)
    config = real_site.config_file(tmp_path / "agent.toml", settings)
    agent = real_site.AgentProcess(data_dir, config, free_port())
    async with sync_hub(tmp_path, data_dir) as hub:
        try:
            printed = await asyncio.to_thread(agent.start)
            secret = printed.split("secret:", 1)[1].split()[0]
            await asyncio.to_thread(agent.login, secret)
            await hub.until(lambda: len(hub.hellos) == 1 and hub._ws is not None)
            assert hub.hellos[0].site_id == hub.site_id
            net = ids.hub_id()
            obj = {"kind": "network", "meta": {"id": net, "name": "lan"}, "spec": {},
                   "origin": "hub", "hub_revision": 3}  # fmt: skip
            change = Change(revision=3, op="put", kind="network", id=net, object=obj)
            await hub.send(Changes, revision=3, items=(change,))
            await hub.until(lambda: hub.acked_revisions == [3])

            def network_active() -> bool:
                found = agent.call("GET", "/v1/networks")["items"]
                return any(n["id"] == net and n["status"] == "ACTIVE" for n in found)

            await until(network_active)
            made = await asyncio.to_thread(
                agent.call, "POST", "/v1/volumes", {"name": "field", "size_gb": 1}
            )
            vol = made["volume"]["id"] if "volume" in made else made["id"]
            await hub.until(lambda: any(o.body["id"] == vol for o in hub.of_type("operation")))
            record = next(o.body for o in hub.of_type("operation") if o.body["id"] == vol)
            assert (record["op"], record["actor"]) == ("create", "local:admin")
            health = await asyncio.to_thread(agent.call, "GET", "/health")
            assert health["sync"]["connected"] and health["sync"]["applied_revision"] == 3
            await until(  # the page is retaken when older than a couple of seconds
                lambda: "atoll_sync_applied_revision 3.0" in _text(agent.url + "/metrics")
            )
            assert "atoll_sync_connected 1.0" in _text(agent.url + "/metrics")

            await asyncio.to_thread(agent.kill9)
            await asyncio.to_thread(agent.start)  # killed and started again
            await hub.until(lambda: len(hub.hellos) == 2)
            assert hub.hellos[1].applied_revision == 3  # it remembers where it was
            assert hub.hellos[1].sent_seq >= record_seq(hub, vol)
        finally:
            await asyncio.to_thread(agent.stop)
            real_site.remove_links(names.device_prefix)


def record_seq(hub: Any, obj_id: str) -> int:
    return int(next(o.seq for o in hub.of_type("operation") if o.body["id"] == obj_id))


def _text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
        return str(resp.read().decode())
