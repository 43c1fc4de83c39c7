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

Op occurrence API under load: a hub process (the real app on its SQLite store, as
``atoll hub serve`` runs it) holding OCC_COUNT op occurrences, each made by the engine (an
instantiate and a terminate per instance, with the simulated sites reporting), answers
``GET /vnflcm/v2/vnf_lcm_op_occs/{id}`` and the list (its first page) to OCC_CONCURRENCY
clients at once, as a project member; p50 and p99 in ms. Baseline: the bare aiohttp handler
of ``bench_hub_api`` returning the same bytes, loaded the same way, in turn with the hub.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.store import open_store
from atoll.hub.store.memory import MemoryStore
from atoll.passwords import Passwords
from atoll.testbed.services.ports import free_port
from bench.bench_hub_api import paired_loads, serve_bare, serve_hub, start_process, stop
from bench.report import emit
from tests.hub.api.vnf_packages import catalog_image, upload
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api, FakeClock
from tests.hub.lcm.fake_sites import FakeSites
from tests.hub.lcm.lcmtest import IMAGE_SHA256, INSTANCES, OCCS, VNFD, Lcm, V, lcm_hub

SITES = (1, 50)
OCC_COUNT = 300  # op occurrences the hub holds (one instantiate and one terminate per instance)
OCC_CONCURRENCY = 20
SHOW_REQUESTS, LIST_REQUESTS = 2000, 100  # per run (a list page is 100 op occurrences)


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


async def op_occurrences(data_dir: Path, count: int) -> None:
    """``count`` op occurrences in ``data_dir``'s SQLite store, made by the engine."""
    store = open_store("sqlite", data_dir)
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    # the simulated sites have no sync session: no liveness sweep marks them offline while
    # they report (on SQLite it would race their writes)
    settings = replace(
        TEST_SETTINGS,
        data_dir=data_dir,
        lcm_poll_interval=3600.0,
        sync_heartbeat_interval=1e6,
        sync_dead_after=4e6,
    )
    client = TestClient(TestServer(build_app(settings, store, Ed25519PrivateKey.generate())))
    await client.start_server()
    try:
        lcm = await lcm_hub(Api(client, FakeClock()))
        await lcm.engine.stop()  # passes run in lcm.until, not in the background
        for i in range(count // 2):
            instance = await lcm.instance(f"vnf-{i}")
            await lcm.instantiate(instance)
            terminate = await lcm.task(instance, "terminate", {"terminationType": "FORCEFUL"})
            await lcm.until(terminate, "COMPLETED")
    finally:
        await client.close()
        await store.close()


async def member_reads(base: str) -> tuple[dict[str, str], str, bytes, bytes]:
    """The member's headers, an op occurrence's path, its bytes and the list's bytes."""
    async with aiohttp.ClientSession() as session:
        body = {"user": "am", "password": "am-password", "project": "a"}  # lcm_hub's member
        async with session.post(f"{base}/v1/auth/tokens", json=body) as resp:
            headers = {"Authorization": f"Bearer {(await resp.json())['token']}", **V}
        async with session.get(f"{base}{OCCS}", headers=headers) as resp:
            listed = await resp.read()
            assert resp.status == 200 and "next" in resp.headers["Link"], resp.status
        path = f"{OCCS}/{json.loads(listed)[50]['id']}"
        async with session.get(f"{base}{path}", headers=headers) as resp:
            return headers, path, await resp.read(), listed


def occ_figures() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        asyncio.run(op_occurrences(Path(data_dir), OCC_COUNT))
        hub_port, bare_port = free_port(), free_port()
        hub = start_process(serve_hub, (hub_port, data_dir))
        bare = None
        try:
            base = f"http://127.0.0.1:{hub_port}"
            headers, path, shown, listed = asyncio.run(member_reads(base))
            bare = start_process(serve_bare, (bare_port, {path: shown, OCCS: listed}))
            bare_base = f"http://127.0.0.1:{bare_port}"
            show = paired_loads(f"{base}{path}", f"{bare_base}{path}", headers,
                                OCC_CONCURRENCY, SHOW_REQUESTS)  # fmt: skip
            listing = paired_loads(f"{base}{OCCS}", f"{bare_base}{OCCS}", headers,
                                   OCC_CONCURRENCY, LIST_REQUESTS)  # fmt: skip
        finally:
            stop(hub, bare)
    c = OCC_CONCURRENCY
    for name, (hub_figures, bare_figures) in (("show", show), ("list", listing)):
        emit(f"lcm_op_occ_{name}_c{c}_p50", hub_figures[1], "ms", bare_figures[1])
        emit(f"lcm_op_occ_{name}_c{c}_p99", hub_figures[2], "ms", bare_figures[2])


def main() -> None:
    for sites in SITES:
        engine_s, hand_s = asyncio.run(run(sites))
        emit(f"lcm_instantiate_ms_per_site_{sites}", engine_s * 1000 / sites, "ms",
             hand_s * 1000 / sites)  # fmt: skip
    occ_figures()


if __name__ == "__main__":
    main()
