"""`make demo` keeps telling its story: every act plays, and nothing is left behind."""

from __future__ import annotations

import subprocess
import time

import pytest

from atoll.testbed.demo.play import run

pytestmark = [pytest.mark.e2e, pytest.mark.private_ovs]


def test_every_demo_act_plays_and_cleans_up() -> None:
    lines: list[str] = []
    failed = run(say=lines.append)
    transcript = "\n".join(lines)
    assert failed == 0, _failed_acts(transcript)
    assert "sees only ['telco-a']" in transcript
    assert "a tampered token is refused (401)" in transcript
    assert transcript.count(": valid, ") == 7  # every conformance package
    assert "alice onboarded package" in transcript
    assert "bob (telco-b) cannot see telco-a's package (404)" in transcript
    assert "the agent pulled both prestaged images from the hub as edge-1" in transcript
    assert "-> 'hostname=web1 instance-id=" in transcript
    assert "UDP echo on port 7 -> 'atoll'" in transcript
    assert "instantiated from the hub over both sites (zone anti-affinity)" in transcript
    assert transcript.count("of the one VNF instance, running at site-") == 2
    assert "the NOC dashboard shows site-2 offline: screenshot " in transcript
    assert "resolved --keep hub: the hub's stop reached the site over its change" in transcript
    assert "terminated and deleted: no server of the VNF at the hub for either site" in transcript
    assert "restarted agent: still exactly one server, ACTIVE, still answering" in transcript
    assert "after delete: no domain, no tap, no OVS port left" in transcript
    assert "kept reading and writing with 2 of 3 etcd members" in transcript
    assert "--password ***" in transcript and "pw-123" not in transcript
    assert _leftovers(within=20.0) == ""


def _failed_acts(transcript: str) -> str:
    """The failed acts' own transcripts, each with its failure first and last: a CI log keeps
    a failure's head and tail, and the whole demo's transcript is too long for both to show
    the act that failed."""
    acts = transcript.split("\ncleaning up: ", 1)[0].split("\n[")
    failed = [act for act in acts[1:] if "\n  FAILED: " in act]
    parts = []
    for act in failed:
        title, reason = act.split("\n", 1)[0], act.rsplit("\n  FAILED: ", 1)[1].strip()
        parts.append(f"[{title}\n  FAILED: {reason}\n  the act's transcript:\n[{act}")
    return "\n\n".join(parts)


def _leftovers(within: float) -> str:
    """The processes still carrying the demo's paths once ``within`` seconds have passed (a
    guest's QEMU is reaped by libvirtd a moment after its domain is destroyed), as ``ps``
    shows them, so a failure names what was left and who started it."""
    deadline = time.monotonic() + within
    while True:
        found = subprocess.run(["pgrep", "-f", "atoll-demo-"], capture_output=True, text=True)
        pids = found.stdout.split()
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not pids:
        return ""
    ps = ["ps", "-o", "pid,ppid,stat,etime,args", "-p", ",".join(pids)]
    return subprocess.run(ps, capture_output=True, text=True).stdout
