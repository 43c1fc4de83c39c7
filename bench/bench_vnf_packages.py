"""VNF packages at the hub: upload throughput and memory, onboarding latency.

Figures (a hub on a MemoryStore served over loopback HTTP in this process):
- ``vnf_packages.upload``: MB/s of a 64 MiB ``PUT .../package_content``; baseline: a bare
  aiohttp handler on the same loop streaming the same body to a file (no auth, no hashing).
- ``vnf_packages.upload_peak_memory``: Python heap peak (tracemalloc) during that upload, MiB;
  baseline: the body size (a buffered upload would need at least that much).
- ``vnf_packages.onboard.<package>``: seconds from the upload to ONBOARDED for each
  conformance package; baseline: ``load_package`` on the same bytes, called directly.
Medians of several runs.
"""

from __future__ import annotations

import asyncio
import io
import secrets
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.settings import HubSettings
from atoll.hub.store.base import Store
from atoll.hub.store.memory import MemoryStore
from atoll.nfv.definitions import BundledTypes
from atoll.nfv.package import load_package
from atoll.passwords import Passwords
from atoll.tokens import generate_signing_key
from bench.report import emit, median_of
from tests.hub.api.vnf_packages import images_for

BASE = "/vnfpkgm/v1/vnf_packages"
PACKAGES = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "vnf-packages"
UPLOAD_MIB = 64
CHUNK = 256 * 1024
RUNS = 3
PASSWORD = "bench-password"  # noqa: S105 (a throwaway hub)


class Bench:
    def __init__(self, url: str, session: aiohttp.ClientSession, store: MemoryStore) -> None:
        self.url, self.session, self._store = url, session, store
        self.token = ""
        self.bare_url = ""

    @property
    def store(self) -> Store:
        return self._store

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        async with self.session.request(method, self.url + path, headers=headers, **kwargs) as r:
            assert r.status < 300, (r.status, await r.text())
            return await r.json() if r.content_type == "application/json" else None

    async def upload(self, body: bytes | AsyncIterator[bytes]) -> str:
        package = await self.call("POST", BASE, json={})
        headers = {"Content-Type": "application/zip"}
        await self.call(
            "PUT", f"{BASE}/{package['id']}/package_content", data=body, headers=headers
        )
        return str(package["id"])

    async def settled(self, package_id: str) -> dict[str, Any]:
        while True:
            package: dict[str, Any] = await self.call("GET", f"{BASE}/{package_id}")
            if package["onboardingState"] in ("ONBOARDED", "ERROR"):
                return package
            await asyncio.sleep(0.005)


async def _chunks(total: int) -> AsyncIterator[bytes]:
    block = secrets.token_bytes(CHUNK)
    for _ in range(total // CHUNK):
        yield block


def _zip(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


async def _login(bench: Bench) -> None:
    admin = {"user": "admin", "password": PASSWORD}
    async with bench.session.post(bench.url + "/v1/auth/tokens", json=admin) as r:
        bench.token = (await r.json())["token"]
    await bench.call("POST", "/v1/projects", json={"name": "a"})
    await bench.call("POST", "/v1/users", json={"name": "alice", "password": PASSWORD})
    body = {"user": "alice", "project": "a", "role": "member"}
    await bench.call("POST", "/v1/role_assignments", json=body)
    alice = {"user": "alice", "password": PASSWORD, "project": "a"}
    async with bench.session.post(bench.url + "/v1/auth/tokens", json=alice) as r:
        bench.token = (await r.json())["token"]


async def _upload_figures(bench: Bench, data_dir: Path) -> None:
    total = UPLOAD_MIB * 1024 * 1024

    async def one_upload() -> float:
        start = time.perf_counter()
        await bench.upload(_chunks(total))
        return total / (time.perf_counter() - start) / 1e6

    async def bare_upload() -> float:
        start = time.perf_counter()
        async with bench.session.put(bench.bare_url, data=_chunks(total)) as resp:
            assert resp.status == 204
        return total / (time.perf_counter() - start) / 1e6

    rates = [await one_upload() for _ in range(RUNS)]
    bare = [await bare_upload() for _ in range(RUNS)]
    emit("vnf_packages.upload", sorted(rates)[RUNS // 2], "MB/s", sorted(bare)[RUNS // 2])
    tracemalloc.start()
    await bench.upload(_chunks(total))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    emit("vnf_packages.upload_peak_memory", peak / 2**20, "MiB", float(UPLOAD_MIB))


async def _onboard_figures(bench: Bench) -> None:
    bundled = BundledTypes()
    for root in sorted(p for p in PACKAGES.iterdir() if p.is_dir()):
        content = _zip(root)
        # the catalog images its VNFD names, with the checksums it declares (onboarding
        # matches by checksum): as if the real images had been uploaded
        await images_for(bench, "a", root.name)
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            package = await bench.settled(await bench.upload(content))
            assert package["onboardingState"] == "ONBOARDED", package
            times.append(time.perf_counter() - start)

        def direct(content: bytes = content) -> float:
            start = time.perf_counter()
            load_package(content, bundled=bundled)
            return time.perf_counter() - start

        emit(
            f"vnf_packages.onboard.{root.name}",
            sorted(times)[RUNS // 2],
            "s",
            median_of(RUNS, direct),
        )


async def _run(data_dir: Path) -> None:
    store = MemoryStore()
    await seed_admin(store, "admin", Passwords(1, 8, 1).hash_now(PASSWORD))
    settings = HubSettings(
        data_dir=data_dir, password_time_cost=1, password_memory_kib=8, password_parallelism=1
    )
    runner = web.AppRunner(build_app(settings, store, generate_signing_key()))
    bare = web.AppRunner(_bare_app(data_dir))
    for each in (runner, bare):
        await each.setup()
        await web.TCPSite(each, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession() as session:
            bench = Bench(f"http://127.0.0.1:{runner.addresses[0][1]}", session, store)
            bench.bare_url = f"http://127.0.0.1:{bare.addresses[0][1]}/upload"
            await _login(bench)
            await _upload_figures(bench, data_dir)
            await _onboard_figures(bench)
    finally:
        await runner.cleanup()
        await bare.cleanup()


def _bare_app(data_dir: Path) -> web.Application:
    async def upload(request: web.Request) -> web.Response:
        with (data_dir / "bare.bin").open("wb") as fh:
            async for chunk in request.content.iter_any():
                fh.write(chunk)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_put("/upload", upload)
    return app


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-vnf-") as tmp:
        asyncio.run(_run(Path(tmp)))
