"""Site ids (atoll.ids): what an agent makes gets a site id that no hub id can equal, and an
agent upgraded from the dashed-uuid4 ids it wrote before keeps every object it had, with the
same libvirt domain, taps and OVS ports, and adopts its running servers."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import libvirt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from atoll import ids
from atoll.site_agent.api.app import build_app
from atoll.site_agent.catalog import StorageCatalog
from atoll.site_agent.daemon import Agent, real_host
from atoll.site_agent.drivers.network.base import device_name
from atoll.site_agent.drivers.storage.fake import FakeStorage
from atoll.site_agent.resources import Resources
from atoll.site_agent.store import LocalStore
from atoll.testbed.services.ovs import PrivateOVS
from tests.site_agent import real_site
from tests.site_agent.api_harness import make_context

Call = Callable[..., Awaitable[Any]]


class ResourcesBeforeIds(Resources):
    """The agent as it was before atoll.ids: every object got ``str(uuid.uuid4())``."""

    def new_id(self) -> str:
        return str(uuid.uuid4())


@pytest.fixture
async def api(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[tuple[Call, LocalStore]]:
    ctx, store, secret = await make_context(tmp_path)
    client = await aiohttp_client(build_app(ctx))
    resp = await client.post("/v1/auth/tokens", json={"name": "admin", "secret": secret})
    headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}

    async def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        resp = await client.request(method, path, json=body, headers=headers)
        assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
        return await resp.json() if resp.content_type == "application/json" else None

    try:
        yield call, store
    finally:
        await store.close()


async def test_objects_made_at_the_site_get_site_ids(api: tuple[Call, LocalStore]) -> None:
    call, _ = api
    network = (await call("POST", "/v1/networks", {"name": "lan"}, 201))["network"]
    flavors = (await call("GET", "/v1/flavors"))["items"]
    volume = (await call("POST", "/v1/volumes", {"name": "data", "size_gb": 1}, 202))["volume"]
    for made in (network, volume, *flavors):
        assert ids.is_id(made["id"]) and "-" not in made["id"], made
        assert ids.origin_of(made["id"]) == "site"
        assert ids.tag_of(made["id"]) == ids.site_tag("site")  # the default site_name


async def test_objects_an_older_agent_made_resolve_by_their_dashed_ids(
    api: tuple[Call, LocalStore], tmp_path: Path
) -> None:
    """An agent.db from before holds dashed ids; the API finds, uses and deletes them."""
    call, store = api
    before = ResourcesBeforeIds(store, StorageCatalog(FakeStorage(root=tmp_path / "before")))
    old = await before.create_network({"name": "old-lan"})
    await before.create_volume({"name": "old-data", "size_gb": 1})
    legacy = old["id"]
    assert ids.parse(legacy) == legacy and ids.origin_of(legacy) == "site"
    assert (await call("GET", f"/v1/networks/{legacy}"))["network"]["id"] == legacy
    assert (await call("GET", "/v1/networks/old-lan"))["network"]["id"] == legacy
    subnet = (await call("POST", "/v1/subnets", {"network": legacy, "cidr": "10.63.0.0/24"}, 201))[
        "subnet"
    ]
    assert subnet["network"] == legacy and "-" not in subnet["id"]
    volume = (await call("GET", "/v1/volumes/old-data"))["volume"]
    assert "-" in volume["id"]
    await call("DELETE", f"/v1/volumes/{volume['id']}", None, 202)
    await call("DELETE", f"/v1/subnets/{subnet['id']}", None, 202)
    await call("DELETE", f"/v1/networks/{legacy}", None, 202)


async def _wait_for(check: Callable[[], Awaitable[bool]], limit: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _server_status(agent: Agent, ref: str) -> str:
    return str((await agent.resources.show("server", ref))["status"])


@pytest.mark.integration
async def test_an_upgraded_agent_adopts_the_running_servers_of_its_dashed_ids(
    tmp_path: Path, ovs: PrivateOVS, domain_prefix: str, libvirt_conn: libvirt.virConnect
) -> None:
    names = real_site.Names.unique(domain_prefix)
    settings = real_site.settings_for(tmp_path / "agent", ovs, names)
    kernel, blank = await asyncio.to_thread(real_site.test_images, tmp_path / "images")
    try:
        # -- the agent before the upgrade: dashed ids, a running server on real libvirt ----
        old = await Agent.open(settings, await real_host(settings), out=io.StringIO())
        try:
            await old.start()
            catalog = StorageCatalog(old.host.storage)
            for image in (kernel, blank):
                await catalog.add_image(image.id, image.path, image.sha256)
            before = ResourcesBeforeIds(old.store, catalog, kick=old.reconciler.kick)
            await before.create_network({"name": "lan"})
            await before.create_subnet({"network": "lan", "cidr": "10.62.0.0/24"})
            body = {"flavor": "tiny", "image": "blank", "kernel": "tiny-kernel"}
            server = await before.create_server(
                {"name": "vm1", "nics": [{"network": "lan"}], **body}
            )
            sid = server["id"]
            assert "-" in sid

            async def old_active() -> bool:
                return await _server_status(old, sid) == "ACTIVE"

            await _wait_for(old_active, 90, "the old agent's server ACTIVE")
            dom = libvirt_conn.lookupByName(names.domain_prefix + sid)
            domain_uuid, runtime_id = dom.UUIDString(), dom.ID()
            port = (await old.resources.show("server", sid))["networks"][0]["port"]
            tap = device_name(port, names.device_prefix)
            assert real_site.links(names.device_prefix) == [tap]
        finally:
            await old.close()

        # -- the upgraded agent on the same data directory and host ----------------------
        new = await Agent.open(settings, await real_host(settings), out=io.StringIO())
        try:
            await new.start()
            await new.store.call(new.store.set_credential, "admin", PasswordHasher().hash("s"))
            token = (await new.auth.issue("admin", "s", "127.0.0.1"))["token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with TestClient(TestServer(new.app)) as client:

                async def call(method: str, path: str, body: Any = None) -> Any:
                    resp = await client.request(method, path, json=body, headers=headers)
                    assert resp.status < 300, f"{method} {path}: {await resp.text()}"
                    return await resp.json() if resp.content_type == "application/json" else None

                await new.reconciler.reconcile_once()
                shown = (await call("GET", f"/v1/servers/{sid}"))["server"]
                assert shown["id"] == sid and shown["status"] == "ACTIVE"
                assert shown["networks"][0]["port"] == port
                adopted = libvirt_conn.lookupByName(names.domain_prefix + sid)
                assert adopted.UUIDString() == domain_uuid
                assert adopted.isActive() and adopted.ID() == runtime_id  # never restarted
                iface = ovs.vsctl("get", "Interface", tap, "external_ids:iface-id")
                assert iface.strip().strip('"') == port

                made = await call(
                    "POST", "/v1/servers", {"name": "vm2", "nics": [{"network": "lan"}], **body}
                )
                sid2 = made["server"]["id"]
                assert ids.origin_of(sid2) == "site" and "-" not in sid2

                async def new_active() -> bool:
                    return await _server_status(new, sid2) == "ACTIVE"

                await _wait_for(new_active, 90, "the upgraded agent's new server ACTIVE")
                dom2 = libvirt_conn.lookupByName(names.domain_prefix + sid2)
                assert uuid.UUID(dom2.UUIDString()).hex == sid2  # the server id is its UUID
                assert len(real_site.links(names.device_prefix)) == 2

                for ref in (sid, sid2):
                    await call("DELETE", f"/v1/servers/{ref}")

                async def servers_gone() -> bool:
                    return not await new.resources.list_kind("server")

                await _wait_for(servers_gone, 60, "both servers deleted")
                await call("DELETE", "/v1/networks/lan")

                async def networks_gone() -> bool:
                    return not await new.resources.list_kind("network")

                await _wait_for(networks_gone, 30, "the network deleted")
            assert (
                real_site.residue(libvirt_conn, ovs, names, settings.site_agent.data_dir)
                == real_site.EMPTY
            )
        finally:
            await new.close()
    finally:
        real_site.remove_links(names.device_prefix)
