"""Joining a site: from the operator's join code to the running agent working with the hub.

- ``join_code_to_attached``: a real ``atoll hub serve``; the clock starts when the operator
  asks for the code (``POST /v1/join_tokens``), then a fresh ``atoll site-agent run`` (real
  libvirtd, a private OVS) starts, the field engineer runs ``atoll site-agent join CODE``,
  and the clock stops when the running agent has attached to the hub (its log says
  "joined hub": the advert withdrawn, image and revocation pulls on the site certificate).
- ``join_code_to_online``: the same clock, stopped when the hub shows the site ``online``
  (its sync session open). Issue #11's goal: under 60 s, agent start included.
  Baseline: the same agent's start alone (process start to answering, first-start
  credential included), measured in the same run.
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import emit
from tests.security.daemons import RunningHub, running_site, site_join

RUNS = 3


def _one(hub: RunningHub, root: Path) -> tuple[float, float, float]:
    """(code to attached, code to online, agent start alone), seconds."""
    name = f"bench-{secrets.token_hex(3)}"
    work = root / name
    work.mkdir()
    start = time.perf_counter()
    code = hub.join_token(name)["code"]
    began = time.perf_counter()
    with running_site(work, {"site_agent": {"site_name": name}}) as site:
        started = time.perf_counter() - began
        done = site_join(site.data_dir, code)
        assert done.returncode == 0, done.stderr
        log = work / "agent.log"
        deadline = time.monotonic() + 120
        while "joined hub" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not attach to the hub within 120 s")
            time.sleep(0.05)
        attached = time.perf_counter() - start
        while hub.ok("GET", f"/v1/sites/{name}")["state"] != "online":
            if time.monotonic() > deadline:
                raise RuntimeError("the site did not come online within 120 s")
            time.sleep(0.05)
        online = time.perf_counter() - start
    return attached, online, started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-join-", dir="/var/tmp") as tmp_dir:
        tmp = Path(tmp_dir)
        hub = RunningHub.start(tmp)
        try:
            runs = [_one(hub, tmp) for _ in range(RUNS)]
        finally:
            hub.stop()
    attached = statistics.median(r[0] for r in runs)
    online = statistics.median(r[1] for r in runs)
    started = statistics.median(r[2] for r in runs)
    emit("join_code_to_attached", attached, "s", started)
    emit("join_code_to_online", online, "s", started)


if __name__ == "__main__":
    main()
