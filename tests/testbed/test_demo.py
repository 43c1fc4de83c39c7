"""`make demo` keeps telling its story: every act plays, and nothing is left behind."""

from __future__ import annotations

import subprocess

import pytest

from atoll.testbed.demo.play import run

pytestmark = [pytest.mark.e2e, pytest.mark.private_ovs]


def test_every_demo_act_plays_and_cleans_up() -> None:
    lines: list[str] = []
    failed = run(say=lines.append)
    transcript = "\n".join(lines)
    assert failed == 0, transcript
    assert "sees only ['telco-a']" in transcript
    assert "a tampered token is refused (401)" in transcript
    assert transcript.count(": valid, ") == 7  # every conformance package
    assert "alice onboarded package" in transcript
    assert "bob (telco-b) cannot see telco-a's package (404)" in transcript
    assert "the agent pulled both prestaged images from the hub as edge-1" in transcript
    assert "-> 'hostname=web1 instance-id=" in transcript
    assert "UDP echo on port 7 -> 'atoll'" in transcript
    assert "the NOC dashboard shows site-2 offline: screenshot " in transcript
    assert "restarted agent: still exactly one server, ACTIVE, still answering" in transcript
    assert "after delete: no domain, no tap, no OVS port left" in transcript
    assert "kept reading and writing with 2 of 3 etcd members" in transcript
    assert "--password ***" in transcript and "pw-123" not in transcript
    leftovers = subprocess.run(["pgrep", "-f", "atoll-demo-"],
                               capture_output=True, text=True)  # fmt: skip
    assert leftovers.stdout == "", leftovers.stdout
