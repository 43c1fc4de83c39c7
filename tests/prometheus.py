"""A real Prometheus for tests: started on a temp config, queried with PromQL.

``start`` writes the config (YAML is a superset of JSON) and spawns ``prometheus`` on a
loopback port; ``query`` answers a PromQL instant query's result list, or ``[]`` while
Prometheus is not listening yet. The caller reaps the process (``services.process.reap``).
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from atoll.testbed.services.process import spawn


def start(work: Path, port: int, config: dict[str, Any]) -> subprocess.Popen[bytes]:
    work.mkdir(exist_ok=True)
    (work / "prometheus.yml").write_text(json.dumps(config))
    argv = [
        "prometheus",
        f"--config.file={work / 'prometheus.yml'}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return spawn(argv, work / "prometheus.log")


def query(port: int, promql: str) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.load(reply)
    except OSError:
        return []  # not listening yet
    assert body["status"] == "success", body
    return list(body["data"]["result"])
