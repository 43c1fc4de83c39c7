"""Fleet telemetry and alarms with real processes (the testbed's hub and one fake-driver
site: the real agent, store and sync over mTLS, no guests), sharing one bed:

- a site-scope rule (the site's sync link down for 6 s) fires *at the site* while its WAN
  link is cut, and the state change reaches the hub's history once the link heals;
- a real Prometheus (Debian's, on a temp config and data dir) scrapes the hub's /metrics and
  PromQL answers per-site series: the registry's and the site's own telemetry (second: by
  then the site's first whole minute of telemetry has usually reached the hub).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atoll.testbed.bed import procs
from atoll.testbed.bed.bringup import hub_client
from atoll.testbed.bed.state import BedState
from atoll.testbed.services.ports import free_port
from atoll.testbed.services.process import reap
from tests import prometheus

pytestmark = pytest.mark.e2e


def atoll(bed: Path, *argv: str) -> str:
    env = {**procs.clean_env(), "XDG_CONFIG_HOME": str(bed / "config")}
    proc = subprocess.run([sys.executable, "-m", "atoll", *argv], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("alarms") / "bed"
    try:  # down even after an interrupted up (a timeout kills `up` before its own cleanup)
        atoll(directory, "testbed", "up", "--sites", "0", "--fake-sites", "1", "--dir",
              str(directory))  # fmt: skip
        yield directory
    finally:
        atoll(directory, "testbed", "down", "--dir", str(directory))


def test_a_site_rule_fires_while_partitioned_and_its_history_reaches_the_hub(bed: Path) -> None:
    state = BedState.load(bed)
    hub = hub_client(state)
    made = json.loads(atoll(bed, "alarm", "create", "link-down", "--scope", "site", "--site",
                            "site-1", "--metric", "sync_connected", "--lt", "1", "--period",
                            "6", "-f", "json"))  # fmt: skip
    path = f"/v1/alarms/{made['id']}"

    def hub_state(wanted: str) -> bool:
        return bool(hub.get(path)["state"] == wanted)

    # the rule went down, the site evaluated it (connected: ok) and said so
    procs.wait_for("the site's first verdict at the hub", lambda: hub_state("ok"), 60)
    db = Path(state.site("site-1").data_dir) / "agent.db"

    def at_site() -> str | None:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?",
                               (f"alarm_state:{made['id']}",)).fetchone()  # fmt: skip
        return None if row is None else str(json.loads(row[0])["state"])

    cut = time.time()
    atoll(bed, "testbed", "partition", "site-1", "--dir", str(bed))
    try:
        procs.wait_for("the rule to fire at the cut-off site", lambda: at_site() == "alarm", 90)
        assert hub.get(path)["state"] == "ok"  # the hub cannot know yet
    finally:
        healed = time.time()
        atoll(bed, "testbed", "heal", "site-1", "--dir", str(bed))
    procs.wait_for("the site's history at the hub after healing", lambda: hub_state("alarm"), 150)
    history = json.loads(atoll(bed, "alarm", "history", made["id"], "-f", "json"))
    fired = [h for h in history if h["source"] == "site" and h["state"] == "alarm"]
    assert len(fired) == 1 and fired[0]["previous"] == "ok" and fired[0]["site"] == "site-1"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cut))
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(healed + 1)) >= fired[0]["timestamp"]
    assert fired[0]["timestamp"] >= stamp  # evaluated while the link was down
    assert "sync_connected" in fired[0]["reason"]


def test_prometheus_scrapes_per_site_series_from_the_hub(bed: Path, tmp_path: Path) -> None:
    state = BedState.load(bed)
    token = hub_client(state).token
    target = urllib.parse.urlsplit(state.hub_url).netloc
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{
            "job_name": "atoll-hub", "scheme": "https", "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials": token},
            "tls_config": {"ca_file": str(state.hub_data / "ca.pem")},
            "static_configs": [{"targets": [target]}],
        }],
    }  # fmt: skip
    port = free_port()
    log = tmp_path / "prometheus.log"
    server = prometheus.start(tmp_path, port, config)
    try:

        def series(query: str) -> list[Any]:
            return prometheus.query(port, query)

        up = procs.wait_for("the hub's per-site series in Prometheus",
                            lambda: series('atoll_site_up{site="site-1"}'), 60, log,
                            server.pid)  # fmt: skip
        assert isinstance(up, list) and up[0]["value"][1] == "1"
        assert up[0]["metric"]["job"] == "atoll-hub"
        memory = procs.wait_for(
            "the site's own telemetry through the hub",
            lambda: series('atoll_site_host_memory_total_bytes{site="site-1"}'), 150, log,
            server.pid,
        )  # fmt: skip
        assert isinstance(memory, list) and float(memory[0]["value"][1]) > 0
        by_site = series("count by (site) (atoll_site_state)")
        assert [r["metric"]["site"] for r in by_site] == ["site-1"]
    finally:
        reap(server)
