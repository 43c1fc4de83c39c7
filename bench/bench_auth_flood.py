"""Login floods: the p99 of an authenticated GET while 16 clients post wrong secrets.

Each daemon runs as users run it (``atoll hub serve`` over HTTPS with its default argon2
cost; ``atoll site-agent run`` on real libvirtd and a private OVS), started by the harness
of ``tests/security``. A flood process runs 16 threads, each a client from its own loopback
address (``127.0.<run>.<n>``, so the per-address throttle alone cannot stop them and the argon2
pool's bound is tested too) on a kept-alive connection, posting wrong secrets to ``POST
/v1/auth/tokens`` for :data:`FLOOD_SECONDS`. Meanwhile this process sends an authenticated
GET (``/v1/projects`` at the hub, ``/v1/servers`` at the site) every :data:`GET_EVERY`
seconds on a kept-alive connection of its own, from ``127.0.0.1``.

- ``auth_flood.hub_get_p99`` / ``auth_flood.site_get_p99``: the GET's p99 during the flood;
  baseline: the same GET's p99 over the same time without the flood, just before it (goal:
  under 50 ms). Medians of :data:`RUNS` pairs, each flood from addresses not yet throttled.
"""

from __future__ import annotations

import http.client
import multiprocessing
import ssl
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.report import emit
from tests.security.daemons import Daemon, RunningHub, running_site

CLIENTS = 16
FLOOD_SECONDS = 10.0
GET_EVERY = 0.02  # seconds between two measured GETs
RUNS = 3  # baseline + flood pairs per daemon; each flood from fresh addresses; medians


def _connection(
    url: str, ca_file: str | None, source: str | None = None
) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    bind = (source, 0) if source else None
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_file)
        return http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=30, context=context, source_address=bind
        )
    return http.client.HTTPConnection(
        parts.hostname or "", parts.port, timeout=30, source_address=bind
    )


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None, token: str = ""
) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def _flood(url: str, ca_file: str | None, body: bytes, seconds: float, run: int) -> None:
    """Runs in its own process: CLIENTS threads posting wrong secrets until the time is up,
    client ``n`` from ``127.0.<run + 1>.<n + 1>``."""
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        source = f"127.0.{run + 1}.{n + 1}"
        conn = _connection(url, ca_file, source)
        while time.monotonic() < deadline:
            try:
                _request(conn, "POST", "/v1/auth/tokens", body)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = _connection(url, ca_file, source)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _p99_ms(daemon: Daemon, ca_file: str | None, path: str, seconds: float) -> float:
    conn = _connection(daemon.url, ca_file)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            status = _request(conn, "GET", path, None, daemon.token)
            latencies.append(time.perf_counter() - start)
            assert status == 200, f"GET {path}: {status}"
            time.sleep(GET_EVERY)
    finally:
        conn.close()
    return statistics.quantiles(latencies, n=100)[98] * 1000


def _flooded_p99_ms(
    daemon: Daemon, ca_file: str | None, path: str, wrong: bytes, run: int
) -> float:
    spawn = multiprocessing.get_context("spawn")
    args = (daemon.url, ca_file, wrong, FLOOD_SECONDS + 1, run)
    flood = spawn.Process(target=_flood, args=args)
    flood.start()
    try:
        time.sleep(0.5)  # the flood is under way
        return _p99_ms(daemon, ca_file, path, FLOOD_SECONDS)
    finally:
        flood.join(FLOOD_SECONDS + 30)
        if flood.is_alive():
            flood.kill()


def measure(name: str, daemon: Daemon, ca_file: str | None, path: str, wrong: bytes) -> None:
    _p99_ms(daemon, ca_file, path, 1.0)  # warm up (connection, token cache)
    baselines, values = [], []
    for run in range(RUNS):
        baselines.append(_p99_ms(daemon, ca_file, path, FLOOD_SECONDS))
        values.append(_flooded_p99_ms(daemon, ca_file, path, wrong, run))
    emit(
        f"auth_flood.{name}_get_p99", statistics.median(values), "ms", statistics.median(baselines)
    )


def hub_figure(work: Path) -> None:
    work.mkdir(parents=True)
    hub = RunningHub.start(work)
    try:
        wrong = b'{"user": "admin", "password": "wrong-password"}'
        measure("hub", hub, str(hub.ca_file), "/v1/projects", wrong)
    finally:
        hub.stop()


def site_figure(work: Path) -> None:
    work.mkdir(parents=True)
    with running_site(work) as site:
        wrong = b'{"name": "admin", "secret": "wrong-secret"}'
        measure("site", site, None, "/v1/servers", wrong)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hub_figure(Path(tmp) / "hub")
        site_figure(Path(tmp) / "site")


if __name__ == "__main__":
    main()
