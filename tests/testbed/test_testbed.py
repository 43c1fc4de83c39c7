"""``atoll testbed up|status|partition|heal|degrade|kill|restart|down`` as a person runs them:
real processes, namespaces and links; ``down`` leaves nothing, also after ``kill -9`` of the
testbed command itself."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from atoll.testbed.bed import procs
from atoll.testbed.services import libvirtd
from atoll.testbed.services.netns import ip

pytestmark = pytest.mark.integration


def atoll(*argv: str, timeout: float = 300) -> str:
    proc = subprocess.run([sys.executable, "-m", "atoll", *argv], capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def residue(directory: Path, tag: str) -> dict[str, list[Any]]:
    links = [
        line.split(":", 2)[1].strip().split("@")[0]
        for line in ip("-o", "link", "show").splitlines()
    ]
    conn = libvirtd.connect()
    try:
        domains = [d.name() for d in conn.listAllDomains() if d.name().startswith(f"atoll-{tag}")]
    finally:
        conn.close()
    return {
        "namespaces": [n for n in ip("netns", "list").split() if n.startswith(f"atoll-{tag}")],
        "links": [n for n in links if n.startswith(f"at-{tag}")],
        "domains": domains,
        "processes": procs.naming(str(directory)),
        "files": [directory] if directory.exists() else [],
    }


def nothing(found: dict[str, list[Any]]) -> bool:
    return not any(found.values())


@pytest.mark.private_ovs  # a real site: the testbed starts its private OVS
def test_up_faults_and_down_leave_nothing(tmp_path: Path) -> None:
    bed = tmp_path / "bed"
    atoll("testbed", "up", "--sites", "1", "--fake-sites", "1", "--simulated", "3", "--dir",
          str(bed))  # fmt: skip
    record = json.loads((bed / "testbed.json").read_text())
    tag = record["tag"]
    try:
        rows = json.loads(atoll("testbed", "status", "--dir", str(bed), "-f", "json"))
        assert [(r["site"], r["drivers"], r["agent"], r["link"]) for r in rows] == [
            ("site-1", "real", "running", "up"), ("site-2", "fake", "running", "up"),
            ("sim-* (3)", "simulated", "running", "host")]  # fmt: skip
        assert [r["hub_state"] for r in rows] == ["online", "online", "3 online"]
        site2 = record["sites"][1]
        ping = ["ip", "netns", "exec", site2["netns"], "ping", "-c", "1", "-W", "1"]

        def reaches_hub() -> bool:
            return subprocess.run([*ping, f"{record['wan_prefix']}.1"],
                                  capture_output=True).returncode == 0  # fmt: skip

        assert procs.wait_for("site-2 to reach the hub", reaches_hub, 10)
        atoll("testbed", "partition", "site-2", "--dir", str(bed))
        assert not reaches_hub()
        atoll("testbed", "heal", "site-2", "--dir", str(bed))
        assert procs.wait_for("the healed link", reaches_hub, 30)
        atoll("testbed", "degrade", "site-2", "--latency", "150ms", "--dir", str(bed))
        started = time.monotonic()
        assert procs.wait_for("the degraded link", reaches_hub, 30)
        assert time.monotonic() - started >= 0.3  # 150 ms each way, at least
        atoll("testbed", "degrade", "site-2", "--latency", "0", "--dir", str(bed))
        atoll("testbed", "kill", "site-2", "--dir", str(bed))
        rows = json.loads(atoll("testbed", "status", "--dir", str(bed), "-f", "json"))
        assert rows[1]["agent"] == "stopped"
        atoll("testbed", "restart", "site-2", "--dir", str(bed))
        rows = json.loads(atoll("testbed", "status", "--dir", str(bed), "-f", "json"))
        assert rows[1]["agent"] == "running"
        atoll("testbed", "kill", "hub", "--dir", str(bed))
        rows = json.loads(atoll("testbed", "status", "--dir", str(bed), "-f", "json"))
        assert {r["hub_state"] for r in rows} == {"hub down"}, rows
        atoll("testbed", "restart", "hub", "--dir", str(bed))
        rows = json.loads(atoll("testbed", "status", "--dir", str(bed), "-f", "json"))
        assert "hub down" not in {r["hub_state"] for r in rows}
    finally:
        atoll("testbed", "down", "--dir", str(bed))
    assert nothing(residue(bed, tag)), residue(bed, tag)
    again = atoll("testbed", "down", "--dir", str(bed))  # twice is fine: nothing left to remove
    assert "nothing to remove" in again, again


def test_down_cleans_up_after_the_testbed_command_was_killed(tmp_path: Path) -> None:
    bed = tmp_path / "bed"
    up = subprocess.Popen([sys.executable, "-m", "atoll", "testbed", "up", "--sites", "0",
                           "--fake-sites", "2", "--dir", str(bed)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def one_site_started() -> bool:
        try:
            record = json.loads((bed / "testbed.json").read_text())
        except (OSError, ValueError):
            return False
        return any(s.get("pid") for s in record["sites"])

    try:
        procs.wait_for("a site agent", one_site_started, 120)
    finally:
        up.send_signal(signal.SIGKILL)
        up.wait()
    tag = json.loads((bed / "testbed.json").read_text())["tag"]
    assert not nothing(residue(bed, tag))  # the killed `up` left its hub and agents running
    atoll("testbed", "down", "--dir", str(bed))
    assert nothing(residue(bed, tag)), residue(bed, tag)


def test_the_processes_naming_a_testbed_leave_out_what_runs_the_command(tmp_path: Path) -> None:
    """``down`` stops every process naming the testbed's dir, but not the ones it runs
    under: ``timeout 60 atoll testbed down --dir D`` once stopped its own ``timeout``, which
    took ``down`` with it before it removed anything."""
    marker = str(tmp_path / "bed")
    code = f"from atoll.testbed.bed import procs; print(procs.naming({marker!r}))"
    wrapper = f"{sys.executable} -c {code!r}; : {marker}"  # the shell names the dir too
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    try:
        out = subprocess.run(["sh", "-c", wrapper], capture_output=True, text=True,
                             check=True).stdout  # fmt: skip
    finally:
        sleeper.kill()
        sleeper.wait()
    assert json.loads(out) == [sleeper.pid]
