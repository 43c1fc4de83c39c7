"""Faults a person (or a test) injects into a running testbed, and its status.

- ``partition SITE``: the site's WAN veth goes down (the site keeps running, cut off);
  ``heal SITE`` brings it back.
- ``degrade SITE --latency 40ms --loss 0.5%``: tc netem on both ends of the WAN veth
  (``--latency 0 --loss 0`` removes it).
- ``kill SITE``: ``kill -9`` of the agent (its guests keep running); ``restart SITE``: start
  it again (stopping it first if it runs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

from atoll.testbed.bed import procs
from atoll.testbed.bed.bringup import hub_client, start_agent, start_hub
from atoll.testbed.bed.state import BedState
from atoll.testbed.services.netns import ip

HUB = "hub"  # kill and restart take it as well as a site's name


def partition(bed: BedState, name: str) -> None:
    ip("link", "set", bed.site(name).host_link, "down")


def heal(bed: BedState, name: str) -> None:
    ip("link", "set", bed.site(name).host_link, "up")


def degrade(bed: BedState, name: str, latency: str = "", loss: str = "") -> None:
    """Delay and drop frames on the site's WAN link (:mod:`.wanlink`, both directions);
    no latency and no loss puts the plain link back."""
    site = bed.site(name)
    relay_end, bridge_end = f"at-{bed.tag}-r{site.index}", f"at-{bed.tag}-q{site.index}"
    for pid in procs.naming(f"wanlink {site.host_link} "):
        procs.stop(pid)
    with contextlib.suppress(RuntimeError):
        ip("link", "del", relay_end)
    lat = "" if latency in ("", "0", "0ms") else latency
    lost = "" if loss in ("", "0", "0%") else loss
    if not lat and not lost:
        ip("link", "set", site.host_link, "master", bed.wan_bridge)
        site.netem = ""
        bed.save()
        return
    ip("link", "set", site.host_link, "nomaster")
    ip("link", "add", relay_end, "type", "veth", "peer", "name", bridge_end)
    ip("link", "set", bridge_end, "master", bed.wan_bridge)
    for dev in (relay_end, bridge_end):
        ip("link", "set", dev, "up")
    offloads = ["tso", "off", "gso", "off", "gro", "off", "tx", "off"]
    for dev in (site.host_link, relay_end, bridge_end):
        procs.run(["ethtool", "-K", dev, *offloads])
    procs.run(["ip", "netns", "exec", site.netns, "ethtool", "-K", "wan0", *offloads])
    procs.start(
        [sys.executable, "-m", "atoll.testbed.bed.wanlink", site.host_link, relay_end,
         "--latency", lat or "0", "--loss", lost or "0", "--testbed", bed.dir],
        bed.path / "logs" / f"wanlink-{site.name}.log",
    )  # fmt: skip
    site.netem = " ".join(
        x for x in (f"delay {lat}" if lat else "", f"loss {lost}" if lost else "") if x
    )
    bed.save()


def kill(bed: BedState, name: str) -> None:
    """``kill -9`` of a site's agent, or of the hub (``name`` ``hub``)."""
    if name == HUB:
        if procs.alive(bed.hub_pid):
            assert bed.hub_pid is not None
            os.kill(bed.hub_pid, signal.SIGKILL)
        bed.hub_pid = None
        bed.save()
        return
    site = bed.site(name)
    if procs.alive(site.pid):
        assert site.pid is not None
        os.kill(site.pid, signal.SIGKILL)
    site.pid = None
    bed.save()


def restart(bed: BedState, name: str) -> None:
    """Stop (if it runs) and start a site's agent, or the hub (``name`` ``hub``)."""
    if name == HUB:
        procs.stop(bed.hub_pid)
        start_hub(bed)
        return
    site = bed.site(name)
    procs.stop(site.pid)
    start_agent(bed, site)
    bed.save()


def link_state(bed: BedState, name: str) -> str:
    out = ip("-o", "link", "show", bed.site(name).host_link)
    return "up" if "state UP" in out or ",UP" in out.split(">")[0] else "down"


STATUS_COLUMNS = ["site", "drivers", "agent", "link", "hub_state", "last_seen", "acked_revision",
                  "pending_changes"]  # fmt: skip


def status(bed: BedState) -> list[dict[str, Any]]:
    """One row per site: the agent, its link, and what the hub knows of it."""
    hub_sites: dict[str, Any] = {}
    hub_up = procs.alive(bed.hub_pid)
    if hub_up:
        with contextlib.suppress(Exception):  # the hub may be starting or stopping
            listed = hub_client(bed).list_all("/v1/sites", {"limit": "1000"})
            hub_sites = {s["name"]: s for s in listed}
    rows = []
    for site in bed.sites:
        seen = hub_sites.get(site.name, {})
        sync = seen.get("sync") or {}
        rows.append({
            "site": site.name,
            "drivers": site.drivers,
            "agent": "running" if procs.alive(site.pid) else "stopped",
            "link": link_state(bed, site.name) + (f" ({site.netem})" if site.netem else ""),
            "hub_state": seen.get("state", "unknown" if hub_up else "hub down"),
            "last_seen": seen.get("last_seen"),
            "acked_revision": sync.get("acked_revision"),
            "pending_changes": sync.get("pending_changes"),
        })  # fmt: skip
    if bed.simulated:
        online = sum(s["state"] == "online" for n, s in hub_sites.items() if n.startswith("sim-"))
        rows.append({
            "site": f"sim-* ({bed.simulated})", "drivers": "simulated",
            "agent": "running" if procs.alive(bed.simulator_pid) else "stopped", "link": "host",
            "hub_state": f"{online} online" if hub_up else "hub down",
        })  # fmt: skip
    return rows
