"""VNF lifecycle orchestration overhead: the hub's engine per site, guest boot left out.

An in-process hub (MemoryStore, the real app and engine) with simulated sites that report
every object ACTIVE as soon as they see it (:class:`tests.hub.lcm.fake_sites.FakeSites`,
what sync would write), so what is timed is the hub's own work: the instantiate request
(checks, plan, placement, one op occurrence) and the engine passes that write each site's
intent and complete from the facts (the fake sites' own time is taken out). One VNFC per
site (zone anti-affinity), for 1 and for 50 sites.

Baseline: the same objects (a network, a subnet and a server per site) placed directly
through the hub's per-site API (``POST /v1/sites/{site}/networks|subnets|servers``), which
is what a person without the lifecycle would do; ``ratio`` is the lifecycle's overhead per
site over placing by hand. Goal (issue #12): at most 100 ms per site.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.store.memory import MemoryStore
from atoll.passwords import Passwords
from bench.report import emit
from tests.hub.api.vnf_packages import catalog_image, upload
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api, FakeClock
from tests.hub.lcm.fake_sites import FakeSites
from tests.hub.lcm.lcmtest import IMAGE_SHA256, INSTANCES, VNFD, Lcm

SITES = (1, 50)


def vnfd(count: int) -> str:
    """The test VNFD with ``count`` instances of VDU1 (one per site)."""
    return VNFD.replace("max_number_of_instances: 4", f"max_number_of_instances: {count + 2}")\
        .replace("number_of_instances: 2\n        targets: [ VDU1 ]",
                 f"number_of_instances: {count}\n        targets: [ VDU1 ]")  # fmt: skip


async def hub(tmp: Path, sites: int) -> tuple[Lcm, TestClient[Any, Any]]:
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    settings = replace(TEST_SETTINGS, data_dir=tmp, lcm_poll_interval=3600.0)
    client = TestClient(TestServer(build_app(settings, store, Ed25519PrivateKey.generate())))
    await client.start_server()
    api = Api(client, FakeClock())
    admin = await api.admin()
    await api.ok("POST", "/v1/projects", admin, {"name": "a"})
    token = await api.user_with_role("am", "a", "member")
    names = [f"s{i:03d}" for i in range(sites)]
    for name in names:
        await api.ok("POST", "/v1/sites", admin, {"name": name})
    fake = FakeSites(api.store)
    await fake.online(*names)
    await catalog_image(api, "a", "spread-image", sha256=IMAGE_SHA256)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("vnfd.yaml", vnfd(sites))
    await upload(api, token, buffer.getvalue())
    return Lcm(api, token, fake), client


async def lifecycle(lcm: Lcm) -> float:
    """Seconds of hub work to instantiate, the fake sites' reporting left out."""
    engine = lcm.engine
    await engine.stop()  # passes run here, timed, not in the background
    vnfd_id = (await lcm.api.ok("GET", "/vnfpkgm/v1/vnf_packages", lcm.token))[0]["vnfdId"]
    instance = (await lcm.ok("POST", INSTANCES, {"vnfdId": vnfd_id}))["id"]
    spent = 0.0
    start = time.perf_counter()
    op_id = await lcm.task(instance, "instantiate", {"flavourId": "simple"})
    spent += time.perf_counter() - start
    while True:
        start = time.perf_counter()
        await engine.run_once()
        spent += time.perf_counter() - start
        occ = await lcm.occ(op_id)
        if occ["operationState"] == "COMPLETED":
            return spent
        assert occ["operationState"] == "PROCESSING", occ
        await lcm.sites.settle()


async def by_hand(lcm: Lcm, sites: int, image: str) -> float:
    """Seconds to place the same objects through the hub's per-site API."""
    api, token = lcm.api, lcm.token
    flavor = await api.ok("POST", "/v1/flavors", await api.admin(),
                          {"name": "vnf", "vcpus": 1, "ram_mb": 512, "disk_gb": 1})  # fmt: skip
    start = time.perf_counter()
    for i in range(sites):
        site = f"/v1/sites/s{i:03d}"
        net = await api.ok("POST", f"{site}/networks", token, {"name": "vl1", "spec": {}})
        await api.ok("POST", f"{site}/subnets", token, {"name": "vl1-v4", "spec": {
            "network": net["id"], "cidr": "10.9.0.0/24"}})  # fmt: skip
        await api.ok("POST", f"{site}/servers", token, {"name": "vdu1", "spec": {
            "flavor": flavor["id"], "image": image, "nics": [{"network": net["id"]}]}})  # fmt: skip
    return time.perf_counter() - start


async def run(sites: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        lcm, client = await hub(Path(tmp), sites)
        try:
            engine_s = await lifecycle(lcm)
            images = await lcm.api.ok("GET", "/v1/images", lcm.token)
            image = next(i["id"] for i in images["items"] if i["name"] == "spread-image")
            hand_s = await by_hand(lcm, sites, image)
        finally:
            await client.close()
    return engine_s, hand_s


def main() -> None:
    for sites in SITES:
        engine_s, hand_s = asyncio.run(run(sites))
        emit(f"lcm_instantiate_ms_per_site_{sites}", engine_s * 1000 / sites, "ms",
             hand_s * 1000 / sites)  # fmt: skip


if __name__ == "__main__":
    main()
