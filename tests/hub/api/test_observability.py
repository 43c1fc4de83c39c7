"""``/healthz``, ``/readyz`` and ``/metrics``: probes answer without a token; metrics by
Prometheus' conventions (``promtool check metrics`` clean), per-site series by ``site``."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll import certs
from atoll.hub.api.context import HUB
from atoll.hub.app import build_app
from atoll.hub.sites import registry
from atoll.hub.telemetry.keeper import FIELDS
from tests.hub.hubtest import TEST_SETTINGS, Api


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )


async def test_probes_answer_without_a_token_and_readyz_checks_the_ca(
    signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    from atoll.hub.store.memory import MemoryStore

    settings = replace(TEST_SETTINGS, data_dir=tmp_path)
    async with TestClient(TestServer(build_app(settings, MemoryStore(), signing_key))) as client:
        resp = await client.get("/healthz")
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
        assert resp.headers["X-Request-Id"]
        resp = await client.get("/readyz")  # no CA in the data dir: sites cannot join
        body = await resp.json()
        assert resp.status == 503 and body["reason"].startswith("the CA: cannot load"), body
        ca = certs.new_ca()
        certs.write_pem(settings.ca_key, ca.key_pem(), private=True)
        certs.write_pem(settings.ca_cert, ca.cert_pem())
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200 and body["status"] == "ok", body
        assert isinstance(body["revision"], int)
        settings.ca_key.write_bytes(b"not a key")  # a damaged data dir
        resp = await client.get("/readyz")
        assert resp.status == 503 and "the CA" in (await resp.json())["reason"]


async def test_metrics_need_a_system_token_and_pass_promtool(api: Api) -> None:
    resp = await api.client.get("/metrics")
    assert resp.status == 401
    admin = await api.admin()
    await api.ok("POST", "/v1/sites", admin, {"name": "edge-1", "region": "north"})
    await registry.record_report(
        api.store, "edge-1", {"vcpus": 8, "ram_mb": 4096, "disk_gb": 50},
        {"vcpus": 1, "ram_mb": 512, "disk_gb": 1}, api.clock.now,
    )  # fmt: skip
    await api.call("GET", "/v1/sites", admin)
    site_id = (await api.store.get(registry.SITE_KIND, "edge-1")).value["id"]
    minute = api.clock.now // 60 * 60 - 60  # a whole minute, as a site's ring ships them
    batch = {"step": 60, "fields": FIELDS, "points": [  # as a site's telemetry fact brings
        ["host_memory_total_bytes", {}, minute, 4e9, 4e9, 4e9, 6],
        ["host_cpu_seconds_total", {"mode": "user"}, minute, 12.5, 12.0, 13.0, 6],
        ["sync_acked_seq", {}, minute, 3.0, 3.0, 3.0, 6],  # the hub's own name
    ]}  # fmt: skip
    await api.client.app[HUB].telemetry.ingest(site_id, batch)
    resp = await api.client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    for expected in (
        'atoll_site_up{site="edge-1"} 1.0',
        'atoll_hub_background_runs_total{job="lcm engine"}',
        'atoll_site_capacity{resource="vcpus",site="edge-1"} 8.0',
        'atoll_site_state{site="edge-1",state="online"} 1.0',
        'atoll_hub_http_requests_total{code="200",method="GET",route="sites.list"}',
        'atoll_hub_store_operation_duration_seconds_bucket{backend="memory",le="0.0001",'
        'operation="list"}',
        "atoll_build_info{",
        "process_resident_memory_bytes",
        "atoll_site_last_seen_timestamp_seconds",
        'atoll_site_sync_outbox_facts{site="edge-1"} 0.0',
        'atoll_site_sync_sessions_total{site="edge-1"} 0.0',
        'atoll_site_sync_repairs_total{site="edge-1"} 0.0',
        'atoll_site_host_memory_total_bytes{site="edge-1"} 4e+09',
        'atoll_site_host_cpu_seconds_total{mode="user",site="edge-1"} 12.5',
    ):
        assert expected in text, expected
    assert 'atoll_site_sync_acked_seq{site="edge-1"} 3.0' not in text
    store_ops = {  # every operation's series is there from the start; these ones have counts
        line.split('operation="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('atoll_hub_store_operation_duration_seconds_count{backend="memory",')
    }
    assert set(store_ops) == {"get", "put", "delete", "commit", "list", "changes", "revision"}
    assert store_ops["list"] >= 1 and store_ops["put"] >= 1 and store_ops["get"] >= 1, store_ops
    checked = await asyncio.to_thread(promtool_check, text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_metrics_open_to_scrapers_when_metrics_auth_is_off(
    signing_key: Ed25519PrivateKey,
) -> None:
    from atoll.hub.store.memory import MemoryStore

    app = build_app(replace(TEST_SETTINGS, metrics_auth=False), MemoryStore(), signing_key)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert "atoll_hub_http_requests_total" in await resp.text()
