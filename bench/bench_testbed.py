"""The testbed as a person uses it: ``atoll testbed up --sites 2`` until both sites are
online at the hub (hub start, WAN, private OVS, two agents in namespaces of their own,
zeroconf discovery, a join code each, sync sessions open), then ``down``.

- ``testbed_up_2_sites_online``: seconds for that ``up``. Baseline: ``up --sites 0`` (the hub
  and its WAN alone) measured in the same run, so the ratio is what two real sites add.
- ``testbed_down_2_sites``: seconds for the ``down`` after it. Baseline: the same for the
  hub-only testbed.
Medians of 3 runs.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import emit

RUNS = 3


def _timed(*argv: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "atoll", *argv], check=True, capture_output=True,
                   timeout=600)  # fmt: skip
    return time.perf_counter() - started


def _cycle(root: Path, sites: int) -> tuple[float, float]:
    directory = root / f"bed-{sites}-{time.monotonic_ns()}"
    try:
        up = _timed("testbed", "up", "--sites", str(sites), "--dir", str(directory))
    finally:
        down = _timed("testbed", "down", "--dir", str(directory))
    return up, down


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-testbed-") as tmp:
        root = Path(tmp)
        alone = [_cycle(root, 0) for _ in range(RUNS)]
        two = [_cycle(root, 2) for _ in range(RUNS)]
    emit("testbed_up_2_sites_online", statistics.median(r[0] for r in two), "s",
         statistics.median(r[0] for r in alone))  # fmt: skip
    emit("testbed_down_2_sites", statistics.median(r[1] for r in two), "s",
         statistics.median(r[1] for r in alone))  # fmt: skip


if __name__ == "__main__":
    main()
