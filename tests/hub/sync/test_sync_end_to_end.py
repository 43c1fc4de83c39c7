"""The real hub end and the real site end of sync together, over mTLS on loopback: the site
on the drivers' fakes and its real SQLite store (``tests/site_agent/site_harness.py``), the
hub on its app with a site certificate from its own CA. Intent placed through the hub's API
is applied at the site and its status shows at the hub; what a field engineer makes at the
site is adopted by the hub; a delete at the hub removes it at the site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from atoll import certs
from atoll.hub import bootstrap
from atoll.hub.sites.registry import edit_site
from atoll.site_agent.hub_intent import HubIntent
from atoll.site_agent.hub_link import HubLink
from atoll.site_agent.sync.session import SyncClient, SyncSettings
from tests.hub.sync.synchub import SyncHub, sync_hub
from tests.hub.sync.test_sync_sessions import eventually, project_member
from tests.site_agent.site_harness import Site, make_site
from tests.site_agent.sync_hub import write_site_files

pytestmark = pytest.mark.integration

FAST = SyncSettings(reconnect_initial=0.05, reconnect_max=0.2, apply_interval=0.2)


async def joined(hub: SyncHub, site: Site, name: str) -> HubLink:
    """What the join flow leaves: the site's files, the certificate's serial on its record."""
    record = await hub.ok("POST", "/v1/sites", {"name": name})
    layout = bootstrap.DataDir(hub.data_dir)
    ca = certs.load_key_and_cert(layout.ca_key, layout.ca_cert)
    write_site_files(site.tmp, ca, hub.url, record["id"], name)
    cert = x509.load_pem_x509_certificate((site.tmp / "hub" / "site.pem").read_bytes())
    serial = f"{cert.serial_number:x}"
    await edit_site(hub.store, name, lambda v: {**v, "cert_serial": serial})
    link = HubLink.load(site.tmp)
    assert link is not None
    return link


async def test_intent_goes_down_status_comes_up_and_local_work_is_adopted(
    tmp_path: Path,
) -> None:
    (tmp_path / "site").mkdir()
    site = await make_site(tmp_path / "site")
    try:
        async with sync_hub(tmp_path) as hub:
            token = await project_member(hub)
            link = await joined(hub, site, "edge-1")
            client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
            await client.start()
            try:
                await converge(hub, site, token)
            finally:
                await client.stop()
    finally:
        await site.close()


async def converge(hub: SyncHub, site: Site, token: str) -> None:
    spec = {"mtu": 9000}
    net = await hub.ok("POST", "/v1/sites/edge-1/networks", {"name": "net-a", "spec": spec},
                       token)  # fmt: skip

    async def at_site() -> Any:
        return [n for n in await site.resources.list_kind("network") if n["id"] == net["id"]]

    await eventually(at_site)
    path = f"/v1/sites/edge-1/networks/{net['id']}"

    async def reported() -> Any:
        shown = await hub.ok("GET", path, token=token)
        return shown if shown["status"] is not None else None

    shown = await eventually(reported)
    assert shown["status"]["state"]
    volume = await site.resources.create_volume({"name": "data", "size_gb": 1})

    async def adopted() -> Any:
        reply = await hub.call("GET", f"/v1/sites/edge-1/volumes/{volume['id']}")
        return reply.body if reply.status == 200 else None

    seen = await eventually(adopted)
    assert seen["origin"] == "site" and seen["name"] == "data"
    record = await hub.site_record("edge-1")
    assert record["state"] == "online" and record["sync"]["session"] is not None
    await hub.ok("DELETE", path, token=token)

    async def removed() -> bool:  # the reconciler (not running here) finishes the delete
        stored = await site.store.call(site.store.get_object, "network", net["id"])
        return bool(stored.deleting)

    await eventually(removed)


async def test_anti_entropy_removes_what_the_hub_deleted_and_the_site_kept(
    tmp_path: Path,
) -> None:
    """Drift of a refused or lost delete: the hub no longer has a network and subnet it
    placed, the site still has them as the hub's (with a hub revision). The digest check
    finds them and its repair removes them at the site, within a few periods; what the site
    made (its seeded flavors, a volume the hub adopted) stays."""
    (tmp_path / "site").mkdir()
    site = await make_site(tmp_path / "site")
    try:
        async with sync_hub(tmp_path, sync_digest_interval=0.3) as hub:
            token = await project_member(hub)
            link = await joined(hub, site, "edge-1")
            net = await hub.ok("POST", "/v1/sites/edge-1/networks",
                               {"name": "internal", "spec": {}}, token)  # fmt: skip
            sub = await hub.ok("POST", "/v1/sites/edge-1/subnets", {"name": "internal-v4",
                               "spec": {"network": net["id"], "cidr": "10.70.0.0/24"}},
                               token)  # fmt: skip
            client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
            await client.start()
            try:
                volume = await site.resources.create_volume({"name": "field", "size_gb": 1})

                async def placed() -> bool:
                    known = await site.store.call(site.store.hub_known, ("network", "subnet",
                                                                        "volume"))  # fmt: skip
                    return {i for _, i, _ in known} == {net["id"], sub["id"], volume["id"]}

                await eventually(placed)
            finally:
                await client.stop()
            # the delete does not reach the site: it moves past the revision that said it
            for kind, obj in (("subnets", sub), ("networks", net)):
                await hub.ok("DELETE", f"/v1/sites/edge-1/{kind}/{obj['id']}", token=token)
            lost = await hub.store.revision()
            await site.store.call(site.store.raise_counter, "applied_revision", lost)
            flavors = await site.store.call(site.store.object_ids, "flavor")
            client = SyncClient(link, site.store, HubIntent(site.resources), settings=FAST)
            await client.start()
            try:

                async def repaired() -> bool:
                    known = await site.store.call(site.store.hub_known, ("network", "subnet"))
                    return not known

                await eventually(repaired, within=10.0)
                for kind, obj_id in (("network", net["id"]), ("subnet", sub["id"])):
                    stored = await site.store.call(site.store.get_object, kind, obj_id)
                    assert stored.deleting, (kind, obj_id)
                kept = await site.store.call(site.store.get_object, "volume", volume["id"])
                assert not kept.deleting and kept.hub_revision is not None
                assert await site.store.call(site.store.object_ids, "flavor") == flavors

                async def counted() -> bool:  # written by the liveness sweep
                    return bool((await hub.site_record("edge-1"))["sync"].get("repairs"))

                await eventually(counted)
            finally:
                await client.stop()
    finally:
        await site.close()
