"""Hub API: tokens issued/s and verified/s; an authenticated GET at concurrency 50.

Baselines, measured in the same run:
- issuing and verifying: raw Ed25519 sign/verify of the same payload (the physical limit of
  the crypto the format needs);
- the GET (``/v1/projects/bench`` on the default SQLite store, with token check, policy,
  request id and error middleware): a bare aiohttp handler returning the same bytes.
Each server runs in its own process (the load generator must not share its GIL); both get
the same load. Plain HTTP on loopback for both (TLS would cost both the same). Each figure is
the median of RUNS loads of REQUESTS GETs, the hub's and the baseline's in turn: with 3,000
GETs a load lasted 0.2-0.4 s and the ratio went from 0.41 to 0.66 over ten runs of the same
code; with 10,000 (about 1 s each) five runs gave 0.52-0.61.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.synchronize import Event
from pathlib import Path

import aiohttp
from aiohttp import web

from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.settings import HubSettings
from atoll.hub.store import open_store
from atoll.passwords import Passwords
from atoll.testbed.services.ports import free_port
from atoll.tokens import Claims, TokenSigner, TokenVerifier, generate_signing_key
from bench.report import emit, median_of, rate

PASSWORD = "bench-password"  # noqa: S105 (a throwaway hub in a temp dir)
CONCURRENCY = 50
REQUESTS = 10000
RUNS = 7


def _claims(now: float) -> Claims:
    return Claims("0" * 32, "alice", "a", False, ("member",), now, now + 3600)


def token_figures() -> None:
    key = generate_signing_key()
    signer, verifier = TokenSigner(key), TokenVerifier([key.public_key()])
    now = time.time()
    claims = _claims(now)
    token = signer.sign(claims)
    payload = token.rsplit(".", 1)[0].encode()
    signature = key.sign(payload)
    n = 3000
    issued = median_of(RUNS, lambda: rate(n, lambda: [signer.sign(claims) for _ in range(n)]))
    raw_sign = median_of(RUNS, lambda: rate(n, lambda: [key.sign(payload) for _ in range(n)]))
    emit("hub_api.tokens_issued", issued, "tokens/s", raw_sign)
    public = key.public_key()
    verified = median_of(
        RUNS, lambda: rate(n, lambda: [verifier.verify(token, now) for _ in range(n)])
    )
    raw_verify = median_of(
        RUNS, lambda: rate(n, lambda: [public.verify(signature, payload) for _ in range(n)])
    )
    emit("hub_api.tokens_verified", verified, "tokens/s", raw_verify)
    cached = TokenVerifier([public], cache_size=16)
    repeat = median_of(RUNS, lambda: rate(n, lambda: [cached.verify(token, now) for _ in range(n)]))
    emit("hub_api.tokens_verified_repeat", repeat, "tokens/s", raw_verify)


def serve_hub(port: int, data_dir: str, ready: Event) -> None:
    """A hub on ``data_dir``'s SQLite store (an admin with PASSWORD seeded if there is none)."""

    async def main() -> None:
        settings = HubSettings(data_dir=Path(data_dir))
        store = open_store("sqlite", Path(data_dir))
        await seed_admin(store, "admin", Passwords(1, 8, 1).hash_now(PASSWORD))
        runner = web.AppRunner(build_app(settings, store, generate_signing_key()), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_bare(port: int, bodies: dict[str, bytes], ready: Event) -> None:
    """The baseline server: a bare aiohttp handler answering GET of each path with its
    bytes (no token, policy, store or middleware)."""

    def handler(body: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def answer(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type="application/json")

        return answer

    async def main() -> None:
        app = web.Application()
        for path, body in bodies.items():
            app.router.add_get(path, handler(body))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def load(
    url: str, headers: dict[str, str], concurrency: int = CONCURRENCY, requests: int = REQUESTS
) -> tuple[float, float, float]:
    """(requests/s, p50 and p99 latency in ms) for ``requests`` GETs of ``url`` from
    ``concurrency`` workers, timed once the ``concurrency`` connections are open (a warm-up
    round of one GET per worker: otherwise the p99 is the TCP handshakes of the first round,
    not the server)."""
    latencies: list[float] = []
    left = requests
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def warm() -> None:
            async with session.get(url) as resp:
                await resp.read()

        await asyncio.gather(*(warm() for _ in range(concurrency)))

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                start = time.perf_counter()
                async with session.get(url) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, cuts[49] * 1000, cuts[98] * 1000


async def _prepare(base: str) -> tuple[str, bytes]:
    async with aiohttp.ClientSession() as session:
        body = {"user": "admin", "password": PASSWORD}
        async with session.post(f"{base}/v1/auth/tokens", json=body) as resp:
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(f"{base}/v1/projects", json={"name": "bench"}, headers=headers):
            pass
        async with session.get(f"{base}/v1/projects/bench", headers=headers) as resp:
            return token, await resp.read()


def start_process(
    target: Callable[..., None], args: tuple[object, ...]
) -> multiprocessing.process.BaseProcess:
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=target, args=(*args, ready), daemon=True)
    proc.start()
    if not ready.wait(30):
        proc.terminate()
        raise RuntimeError("a bench server did not start")
    return proc


def get_figures() -> None:
    with tempfile.TemporaryDirectory() as data_dir:
        hub_port, bare_port = free_port(), free_port()
        hub = start_process(serve_hub, (hub_port, data_dir))
        bare = None
        try:
            base = f"http://127.0.0.1:{hub_port}"
            token, body = asyncio.run(_prepare(base))
            bare = start_process(serve_bare, (bare_port, {"/v1/projects/bench": body}))
            auth = {"Authorization": f"Bearer {token}"}
            bare_url = f"http://127.0.0.1:{bare_port}/v1/projects/bench"
            hub_figures, bare_figures = paired_loads(f"{base}/v1/projects/bench", bare_url, auth)
        finally:
            stop(hub, bare)
    emit("hub_api.get_c50_rps", hub_figures[0], "req/s", bare_figures[0])
    emit("hub_api.get_c50_p50", hub_figures[1], "ms", bare_figures[1])
    emit("hub_api.get_c50_p99", hub_figures[2], "ms", bare_figures[2])


def paired_loads(
    hub_url: str,
    bare_url: str,
    headers: dict[str, str],
    concurrency: int = CONCURRENCY,
    requests: int = REQUESTS,
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The medians of RUNS :func:`load` runs of the hub's URL and of the bare baseline's,
    in turn (so a noisy neighbour hits both alike): ((req/s, p50, p99), (the same))."""
    hub_runs, bare_runs = [], []
    for _ in range(RUNS):
        hub_runs.append(asyncio.run(load(hub_url, headers, concurrency, requests)))
        bare_runs.append(asyncio.run(load(bare_url, headers, concurrency, requests)))

    def medians(runs: list[tuple[float, float, float]]) -> tuple[float, float, float]:
        rps, p50, p99 = (statistics.median(r[i] for r in runs) for i in range(3))
        return rps, p50, p99

    return medians(hub_runs), medians(bare_runs)


def stop(*procs: multiprocessing.process.BaseProcess | None) -> None:
    for proc in procs:
        if proc is not None:
            proc.terminate()
            proc.join(10)


def main() -> None:
    token_figures()
    get_figures()


if __name__ == "__main__":
    main()
