"""The agent on real services: libvirtd (TCG), a private OVS (netdev), real qemu-img.

A network and a server (direct kernel boot of a tiny guest, root disk a qcow2 overlay, a
config drive, a tap on OVS), the serial console through the API, a volume attached, then
everything deleted: no domain, OVS port, tap, overlay, volume or instance file is left.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import libvirt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.app import build_app
from atoll.hub.store.memory import MemoryStore
from atoll.site_agent.daemon import Agent, real_host
from atoll.site_agent.drivers.compute.domainxml import NS
from atoll.testbed.services.ovs import PrivateOVS
from atoll.testbed.services.ports import free_port
from atoll.testbed.services.process import reap
from tests import prometheus
from tests.hub.hubtest import TEST_SETTINGS
from tests.site_agent import real_site
from tests.site_agent.drivers import tinyguest

pytestmark = pytest.mark.integration


async def wait_for(
    check: Callable[[], Awaitable[bool]], limit: float = 60.0, what: str = ""
) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def agent(
    tmp_path: Path, ovs: PrivateOVS, domain_prefix: str, libvirt_conn: libvirt.virConnect
) -> AsyncIterator[tuple[Agent, real_site.Names]]:
    names = real_site.Names.unique(domain_prefix)
    settings = real_site.settings_for(tmp_path / "agent", ovs, names)
    host = await real_host(settings)
    agent = await Agent.open(settings, host, out=io.StringIO())
    try:
        await agent.start()
        yield agent, names
    finally:
        await agent.close()
        real_site.remove_links(names.device_prefix)


async def test_network_and_server_lifecycle_leave_no_residue(
    agent: tuple[Agent, real_site.Names],
    tmp_path: Path,
    ovs: PrivateOVS,
    libvirt_conn: libvirt.virConnect,
) -> None:
    ag, names = agent
    kernel, blank = await asyncio.to_thread(real_site.test_images, tmp_path / "images")
    secret_store = ag.store
    async with TestClient(TestServer(ag.app)) as client:
        cred = await secret_store.call(ag.auth.store.get_credential, "admin")
        assert cred is not None and cred.startswith("$argon2")  # stored hashed, never plain
        # first start printed the secret; here we mint a token with the same code path
        h = {"Authorization": "Bearer " + await _local_token(ag)}

        async def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
            resp = await client.request(method, path, json=body, headers=h)
            assert resp.status == status, f"{method} {path}: {resp.status} {await resp.text()}"
            return await resp.json()

        for image in (kernel, blank):
            put = {**h, **image.upload_headers()}
            resp = await client.put(image.upload_path, data=image.path.read_bytes(), headers=put)
            assert resp.status == 201, await resp.text()
        await call("POST", "/v1/networks", {"name": "lan"}, 201)
        await call(
            "POST",
            "/v1/subnets",
            {"network": "lan", "cidr": "10.61.0.0/24", "gateway": "10.61.0.1"},
            201,
        )
        await call("POST", "/v1/volumes", {"name": "data", "size_gb": 1}, 202)
        body = {
            "name": "vm1",
            "flavor": "tiny",
            "image": "blank",
            "kernel": "tiny-kernel",
            "nics": [{"network": "lan"}],
            "volumes": ["data"],
        }
        posted = time.time()
        server = (await call("POST", "/v1/servers", body, 202))["server"]
        sid = server["id"]
        assert server["launched_at"] is None

        async def active() -> bool:
            return str((await call("GET", f"/v1/servers/{sid}"))["server"]["status"]) == "ACTIVE"

        await wait_for(active, 90, "server ACTIVE")
        resp = await client.get("/readyz")  # no token: store and libvirtd answer
        ready = await resp.json()
        assert resp.status == 200 and ready["checks"] == {"store": "ok", "hypervisor": "ok"}
        shown = (await call("GET", f"/v1/servers/{sid}"))["server"]
        assert shown["networks"][0]["ip"] == "10.61.0.2"
        launched = datetime.fromisoformat(shown["launched_at"]).timestamp()
        assert posted < launched <= time.time()  # when it became ACTIVE, to the microsecond
        dom = libvirt_conn.lookupByName(names.domain_prefix + sid)
        assert dom.isActive()
        xml = dom.XMLDesc()
        assert "config.iso" in xml and f"{sid}.qcow2" in xml
        ports = ovs.vsctl("list-ports", names.bridge).split()
        assert len(ports) == 1 and ports[0].startswith(names.device_prefix)
        iface_id = (
            ovs.vsctl("get", "Interface", ports[0], "external_ids:iface-id").strip().strip('"')
        )
        assert iface_id == shown["networks"][0]["port"]

        async def console_up() -> bool:
            out = (await call("GET", f"/v1/servers/{sid}/console"))["console"]["output"]
            return tinyguest.UP_LINE in str(out)

        await wait_for(console_up, 30, "the guest's boot line on the console log")
        # QEMU dies under the guest: the lifecycle event marks it, on-failure restarts it
        pidfile = Path(f"/run/libvirt/qemu/{names.domain_prefix}{sid}.pid")
        pid = int(await asyncio.to_thread(pidfile.read_text))
        os.kill(pid, signal.SIGKILL)

        async def restarted() -> bool:
            server = (await call("GET", f"/v1/servers/{sid}"))["server"]
            return bool(server["restarts"] == 1 and server["status"] == "ACTIVE")

        await wait_for(restarted, 60, "the crashed guest restarted by its policy")
        assert dom.isActive()
        again = (await call("GET", f"/v1/servers/{sid}"))["server"]
        assert again["launched_at"] == shown["launched_at"]  # a restart is not a launch
        await _domain_and_metrics_follow_conventions(client, h, libvirt_conn, shown)
        await _prometheus_joins_servers_by_name(tmp_path / "prometheus", client)

        # a volume attached while the guest runs is hot-plugged (no restart)
        vol2 = (await call("POST", "/v1/volumes", {"name": "hot", "size_gb": 1}, 202))["volume"]
        await call("POST", "/v1/volumes/hot/actions/attach", {"server": sid}, 202)

        async def hot_plugged() -> bool:
            return f"{vol2['id']}.qcow2" in dom.XMLDesc(0)

        await wait_for(hot_plugged, 30, "the volume hot-plugged into the running guest")
        assert dom.isActive()

        async def server_metrics() -> bool:
            text = await (await client.get("/metrics")).text()
            return f'atoll_server_cpu_seconds_total{{server="{sid}"}}' in text

        await wait_for(server_metrics, 30, "the server's CPU counter on /metrics")
        health = await (await client.get("/health")).json()
        assert health["status"] == "ok" and health["reconcile_passes"] > 0, health

        await call("POST", f"/v1/servers/{sid}/actions/stop", {}, 202)

        async def stopped() -> bool:
            return str((await call("GET", f"/v1/servers/{sid}"))["server"]["status"]) == "SHUTOFF"

        await wait_for(stopped, 30, "server SHUTOFF")
        assert not dom.isActive()

        await call("DELETE", f"/v1/servers/{sid}", None, 202)
        await wait_for(lambda: _gone(call, "servers"), 60, "server deleted")
        await call("DELETE", "/v1/volumes/data", None, 202)
        await call("DELETE", "/v1/volumes/hot", None, 202)
        await call("DELETE", "/v1/networks/lan", None, 202)
        await wait_for(lambda: _gone(call, "volumes"), 30, "volume deleted")
        await wait_for(lambda: _gone(call, "networks"), 30, "network deleted")
    assert (
        real_site.residue(libvirt_conn, ovs, names, ag.settings.site_agent.data_dir)
        == real_site.EMPTY
    )


async def _gone(call: Any, plural: str) -> bool:
    return not (await call("GET", f"/v1/{plural}"))["items"]


async def _local_token(ag: Agent) -> str:
    """A local token as POST /v1/auth/tokens issues it (the secret was printed at first
    start; the API test covers the exchange itself), minted by resetting the credential."""
    from argon2 import PasswordHasher

    await ag.store.call(ag.store.set_credential, "admin", PasswordHasher().hash("test-secret"))
    issued = await ag.auth.issue("admin", "test-secret", "127.0.0.1")
    return str(issued["token"])


async def test_audit_removes_real_orphans(
    agent: tuple[Agent, real_site.Names],
    tmp_path: Path,
    ovs: PrivateOVS,
    libvirt_conn: libvirt.virConnect,
) -> None:
    """Things tagged as ours with no desired object (left by a bug, a crash long ago or a
    person) are found on the real host and removed; nothing else is touched."""
    from atoll.site_agent.drivers.compute.base import DomainSpec, KernelBoot
    from atoll.site_agent.drivers.network.base import NetworkSpec, PortSpec

    ag, names = agent
    kernel, blank = await asyncio.to_thread(real_site.test_images, tmp_path / "images")
    await ag.host.storage.add_image(blank.id, blank.path, blank.sha256)
    host = ag.host
    orphan = "0rphan-0000-1111"
    await host.compute.define(DomainSpec(orphan, "orphan", 1, 32, KernelBoot(kernel.path)))
    await host.compute.start(orphan)
    net = NetworkSpec("net-orphan", "gone")
    await host.network.ensure_network(net)
    await host.network.plug_port(net, PortSpec("port-orphan-01", net.id, "fa:16:3f:00:00:09"))
    await host.storage.create_root_disk(orphan, blank.id)
    await host.storage.create_volume("vol-orphan", 1024 * 1024 * 1024)
    assert (
        real_site.residue(libvirt_conn, ovs, names, ag.settings.site_agent.data_dir)
        != real_site.EMPTY
    )
    report = await ag.reconciler.audit()
    assert sorted(report.removed) == sorted(
        [
            f"domain {orphan}",
            "port port-orphan-01",
            "network net-orphan",
            f"root_disk {orphan}",
            "volume vol-orphan",
        ]
    )
    assert (
        real_site.residue(libvirt_conn, ovs, names, ag.settings.site_agent.data_dir)
        == real_site.EMPTY
    )
    assert [i.image_id for i in await host.storage.list_images()] == ["blank"]  # cache kept


async def _domain_and_metrics_follow_conventions(
    client: TestClient[Any, Any], h: dict[str, str], conn: libvirt.virConnect, shown: Any
) -> None:
    """Nova's conventions: the domain's UUID is the server id, its title the server's name,
    its metadata the flavor, project and ports; /metrics joins ids to names, and passes
    ``promtool check metrics``."""
    sid, port = shown["id"], shown["networks"][0]
    dom = conn.lookupByUUIDString(sid)  # what `virsh dominfo <server id>` does
    root = ET.fromstring(dom.XMLDesc())  # noqa: S314 (libvirtd's own XML)
    assert root.findtext("uuid", "").replace("-", "") == sid.replace("-", "")
    assert root.findtext("title") == "vm1"
    meta = root.find(f"metadata/{{{NS}}}server")
    assert meta is not None
    flavor = meta.find(f"{{{NS}}}flavor")
    assert flavor is not None and flavor.get("name") == "tiny"
    assert flavor.findtext(f"{{{NS}}}vcpus") == str(shown["vcpus"])
    assert flavor.findtext(f"{{{NS}}}memory") == str(shown["ram_mb"])
    ports = meta.findall(f"{{{NS}}}ports/{{{NS}}}port")
    assert [(p.get("uuid"), p.get("mac")) for p in ports] == [(port["port"], port["mac"])]
    ip = ports[0].find(f"{{{NS}}}ip")
    assert ip is not None and ip.get("address") == port["ip"] and ip.get("ipVersion") == "4"

    resp = await client.get("/metrics", headers=h)
    text = await resp.text()
    assert resp.status == 200, text
    info = f'atoll_server_info{{flavor="tiny",name="vm1",project="",server="{sid}"}} 1.0'
    assert info in text
    assert f'atoll_server_status{{server="{sid}",status="ACTIVE"}} 1.0' in text
    assert f'atoll_server_status{{server="{sid}",status="ERROR"}} 0.0' in text
    assert f'atoll_server_power_state{{server="{sid}",state="running"}} 1.0' in text
    assert f'atoll_server_restarts_total{{server="{sid}"}} 1.0' in text
    assert 'atoll_build_info{component="site-agent",version="' in text
    assert "process_resident_memory_bytes " in text
    promtool = ["promtool", "check", "metrics"]
    checked = await asyncio.to_thread(
        subprocess.run, promtool, input=text, capture_output=True, text=True
    )
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout


async def _prometheus_joins_servers_by_name(work: Path, agent: TestClient[Any, Any]) -> None:
    """A real Prometheus scrapes this agent and a hub, and finds the guest's CPU by its name
    (``atoll_server_info`` join) and both daemons' build info."""
    hub_app = build_app(replace(TEST_SETTINGS, metrics_auth=False), MemoryStore(),
                        Ed25519PrivateKey.generate())  # fmt: skip
    async with TestServer(hub_app, host="127.0.0.1") as hub:
        port = free_port()
        scraped = {"atoll-site": agent.server.port, "atoll-hub": hub.port}
        jobs = [
            {"job_name": job, "scrape_interval": "1s",
             "static_configs": [{"targets": [f"127.0.0.1:{target}"]}]}
            for job, target in scraped.items()
        ]  # fmt: skip
        config = {"scrape_configs": jobs}
        proc = await asyncio.to_thread(prometheus.start, work, port, config)
        try:
            by_name = (
                "atoll_server_cpu_seconds_total * on(server) group_left(name) "
                'atoll_server_info{name="vm1"}'
            )
            builds = 'count by (component) (atoll_build_info{job=~"atoll-.*"})'

            async def answered() -> bool:
                found = [
                    await asyncio.to_thread(prometheus.query, port, q) for q in (by_name, builds)
                ]
                return len(found[0]) == 1 and len(found[1]) == 2

            await wait_for(answered, 60, "Prometheus to scrape both daemons")
        finally:
            await asyncio.to_thread(reap, proc)
