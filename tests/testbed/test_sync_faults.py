"""Sync through faults, with real processes: a hub restarted mid-stream and an agent killed
with ``kill -9`` mid-apply lose nothing and duplicate nothing (the testbed's fake-driver
sites: the real agent, store and sync protocol over mTLS, no guests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from atoll.testbed.bed import procs
from atoll.testbed.bed.bringup import hub_client, site_get
from atoll.testbed.bed.state import BedState

pytestmark = pytest.mark.e2e
VOLUMES = 24


def atoll(bed: Path, *argv: str) -> str:
    env = {**procs.clean_env(), "XDG_CONFIG_HOME": str(bed / "config")}
    proc = subprocess.run([sys.executable, "-m", "atoll", *argv], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_hub_restart_and_agent_kill_mid_stream_lose_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "bed"
    try:  # down even after an interrupted up (a timeout kills `up` before its own cleanup)
        atoll(directory, "testbed", "up", "--sites", "0", "--fake-sites", "1", "--dir",
              str(directory))  # fmt: skip
        bed = BedState.load(directory)
        atoll(directory, "project", "create", "p1")
        names = [f"v{i:02d}" for i in range(VOLUMES)]
        for i, name in enumerate(names):
            atoll(directory, "volume", "create", name, "--size", "1", "--site", "site-1",
                  "--project", "p1")  # fmt: skip
            if i == VOLUMES // 3:
                atoll(directory, "testbed", "kill", "hub", "--dir", str(directory))
                atoll(directory, "testbed", "restart", "hub", "--dir", str(directory))
            if i == 2 * VOLUMES // 3:
                atoll(directory, "testbed", "kill", "site-1", "--dir", str(directory))
                atoll(directory, "testbed", "restart", "site-1", "--dir", str(directory))
        bed = BedState.load(directory)
        hub = hub_client(bed)

        def converged() -> bool:
            placed = hub.list_all("/v1/sites/site-1/volumes")
            states = [(v.get("status") or {}).get("state") for v in placed]
            return len(placed) == VOLUMES and set(states) == {"AVAILABLE"}

        procs.wait_for("every volume AVAILABLE in the hub's view", converged, 120)
        at_site = site_get(bed, bed.site("site-1"), "/v1/volumes?limit=1000")["items"]
        assert sorted(v["name"] for v in at_site) == names  # each once: no duplicate effect

        def drained() -> bool:
            sync = site_get(bed, bed.site("site-1"), "/health")["sync"]
            hub_seq = hub.get("/v1/sites/site-1")["sync"]["acked_seq"]
            return bool(sync["outbox_depth"] == 0 and sync["acked_seq"] == hub_seq)

        procs.wait_for("the site's outbox to drain into the hub", drained, 60)
        record = hub.get("/v1/sites/site-1")
        assert record["state"] == "online"
        assert record["sync"]["acked_seq"] >= VOLUMES  # a status per volume at least, recorded
    finally:
        atoll(directory, "testbed", "down", "--dir", str(directory))
