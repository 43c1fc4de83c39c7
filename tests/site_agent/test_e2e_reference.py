"""End to end: the reference VNF image booted by the agent answers HTTP through OVS.

The agent (real libvirtd TCG, private OVS, qemu-img) boots the reference image (Debian cloud
kernel + busybox initramfs, direct kernel boot) on a site network. The guest takes its IP
from the agent's config drive; a host-side port of the same network, inside a network
namespace, fetches the guest's web page through the OVS integration bridge.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import libvirt
import pytest

from atoll.images.reference.builder import READY_MARKER, ReferenceImage, build_reference
from atoll.images.settings import ImageSettings
from atoll.site_agent.daemon import Agent, real_host
from atoll.site_agent.drivers.network.base import FixedIp, PortSpec
from atoll.site_agent.host import network_spec
from atoll.testbed.services.netns import HostNetwork
from atoll.testbed.services.ovs import PrivateOVS
from tests.site_agent import real_site
from tests.site_agent.test_integration import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> ReferenceImage:
    return build_reference(tmp_path_factory.mktemp("ref"), ImageSettings().reference_cache_dir)


@pytest.fixture
async def agent(
    tmp_path: Path, ovs: PrivateOVS, domain_prefix: str, libvirt_conn: libvirt.virConnect
) -> AsyncIterator[tuple[Agent, real_site.Names]]:
    names = real_site.Names.unique(domain_prefix)
    settings = real_site.settings_for(tmp_path / "agent", ovs, names)
    agent = await Agent.open(settings, await real_host(settings), out=io.StringIO())
    try:
        await agent.start()
        yield agent, names
    finally:
        await agent.close()
        real_site.remove_links(names.device_prefix)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _http_get(netns: str, url: str) -> str:
    """GET ``url`` from inside ``netns`` (Python's urllib: busybox wget crashes there)."""
    code = (
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=3).read().decode())"
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=15,
    )
    return proc.stdout if proc.returncode == 0 else ""


async def test_reference_guest_answers_http_through_ovs(
    agent: tuple[Agent, real_site.Names],
    reference: ReferenceImage,
    hostnet: HostNetwork,
    ovs: PrivateOVS,
    libvirt_conn: libvirt.virConnect,
) -> None:
    ag, names = agent
    res = ag.resources
    await ag.host.storage.add_image("ref-kernel", reference.kernel, _sha(reference.kernel))
    await ag.host.storage.add_image("ref-initrd", reference.initramfs, _sha(reference.initramfs))
    await res.create_network({"name": "lan"})
    subnet = await res.create_subnet(
        {"network": "lan", "cidr": "10.64.0.0/24", "gateway": "10.64.0.1"}
    )
    server = await res.create_server(
        {
            "name": "web1",
            "flavor": "small",
            "kernel": "ref-kernel",
            "ramdisk": "ref-initrd",
            "kernel_cmdline": reference.cmdline,
            "nics": [{"network": "lan"}],
        }
    )
    sid = server["id"]

    async def active() -> bool:
        return str((await res.show("server", sid))["status"]) == "ACTIVE"

    await wait_for(active, 90, "server ACTIVE")
    ip = (await res.show("server", sid))["networks"][0]["ip"]
    assert ip == "10.64.0.2"

    # a host-side probe port on the same network, in its own namespace
    ns = hostnet.netns("probe")
    net = await ag.store.call(ag.store.find_object, "network", "lan")
    probe = PortSpec(
        "probe-port-0001",
        net.id,
        "fa:16:3f:aa:bb:cc",
        fixed_ips=(FixedIp(subnet["id"], "10.64.0.250"),),
    )
    subnets = await ag.store.call(ag.store.list_objects, "subnet")
    await ag.host.network.plug_host_port(network_spec(net, subnets), probe, netns=ns)
    try:

        async def booted() -> bool:
            return READY_MARKER in await ag.host.compute.read_console(sid)

        await wait_for(booted, 180, "the reference guest's ready line")
        deadline = time.monotonic() + 60
        page = ""
        while not page and time.monotonic() < deadline:
            page = await asyncio.to_thread(_http_get, ns, f"http://{ip}/")
        assert page, "the guest did not answer HTTP through OVS"
        # the page is made from the agent's config drive: hostname and instance id
        assert page.strip() == f"hostname=web1 instance-id={sid}"
    finally:
        await ag.host.network.unplug_port(probe.id)
    await res.delete("server", sid)
    await wait_for(lambda: _empty(res, "server"), 60, "server deleted")
    await res.delete("network", "lan")
    await wait_for(lambda: _empty(res, "network"), 30, "network deleted")
    assert (
        real_site.residue(libvirt_conn, ovs, names, ag.settings.site_agent.data_dir)
        == real_site.EMPTY
    )


async def _empty(res: object, kind: str) -> bool:
    from atoll.site_agent.resources import Resources

    assert isinstance(res, Resources)
    return not await res.list_kind(kind)
