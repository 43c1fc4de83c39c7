"""Act: the fleet — two sites in network namespaces of their own join the hub by zeroconf and
one-time codes, the reference VNF is placed at both from the hub, site-2 is cut off, both
sides change things meanwhile, and the link comes back: the hub adopts what the site did,
delivers what it held, and shows the one conflict, which the NOC resolves.

Everything goes through the commands a person types: ``atoll testbed`` plays the field
engineer and the WAN, the ``atoll`` CLI talks to the testbed's hub, and the field engineer's
own commands run inside the site's namespace against its local API.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from atoll.errors import PermanentError
from atoll.testbed.bed.bringup import site_get
from atoll.testbed.bed.state import BedState, SiteState
from atoll.testbed.demo import dashboard
from atoll.testbed.demo.site import http_get, wait
from atoll.testbed.demo.stage import DemoFailure, Stage

PROJECT = "telco-a"


def play(stage: Stage) -> None:
    directory = stage.work / "fleet"
    saved = dict(stage.env)  # the act talks to the testbed's hub; the next acts to theirs
    try:
        _play(stage, directory)
    finally:  # the act's own end: its private OVS holds the host's netdev lock until down
        _down(stage, directory)
        stage.env.clear()
        stage.env.update(saved)


def _play(stage: Stage, directory: Path) -> None:
    stage.atoll("testbed", "up", "--sites", "2", "--dir", str(directory))
    bed = BedState.load(directory)
    env = bed.env  # the CLI now talks to the testbed's hub, as its admin
    stage.env.update(env)
    stage.atoll("site", "list", "-c", "name", "-c", "state", "-c", "sessions")
    online = all(s["state"] == "online" for s in stage.atoll_json("site", "list"))
    stage.check(online, "both sites joined by zeroconf discovery and one-time codes: online")

    ref = stage.atoll_json("image", "build-reference", str(stage.work / "ref"))
    stage.atoll("image", "upload", ref["initramfs"], "--name", "ref-initrd", "--disk-format",
                "ari", "--public", show=False)  # fmt: skip
    stage.atoll("image", "upload", ref["kernel"], "--name", "ref-kernel", "--disk-format", "aki",
                "--ramdisk", "ref-initrd", "--public", show=False)  # fmt: skip
    stage.atoll("project", "create", PROJECT, show=False)
    stage.atoll("flavor", "create", "vnf.small", "--vcpus", "1", "--ram", "256", "--disk", "1",
                show=False)  # fmt: skip
    for site in bed.sites:
        _place(stage, site, ref["cmdline"])
    pages = {}
    for site in bed.sites:
        server = wait(f"vnf-{site.index} ACTIVE at {site.name}",
                      lambda site=site: _server(stage, site, "ACTIVE"), 240)  # fmt: skip
        assert isinstance(server, dict)
        guest = _guest_ip(stage, site)
        url = f"http://{guest}/"
        page = str(wait(f"vnf-{site.index} to answer HTTP",
                        lambda site=site, url=url: http_get(site.lan_netns, url), 180))  # fmt: skip
        pages[site.name] = (guest, page)
        stage.check(page.startswith(f"hostname=vnf-{site.index} "),
                    f"placed from the hub, running at {site.name}: GET http://{guest}/ from "
                    f"its LAN -> {page!r}")  # fmt: skip
    stage.atoll("server", "list", "--site", "site-1")

    site2 = bed.site("site-2")
    stage.atoll("testbed", "partition", "site-2", "--dir", str(directory))
    wait("site-2 offline at the hub", lambda: _state(stage, "site-2") == "offline", 30)
    stage.atoll("site", "list", "-c", "name", "-c", "state", "-c", "last_seen")
    shot = dashboard.fleet_overview(bed.hub_url, "admin", bed.admin_password, "fleet-overview.png")
    stage.check(shot.is_file(), f"the NOC dashboard shows site-2 offline: screenshot {shot}")
    guest, page = pages["site-2"]
    stage.check(
        http_get(site2.lan_netns, f"http://{guest}/") == page,
        "site-2 is cut off (offline at the hub) and its VNF still answers on its LAN",
    )

    stage.say("  meanwhile, at the hub (the NOC):")
    stage.atoll("volume", "create", "logs", "--size", "1", "--site", "site-2", "--project",
                PROJECT, show=False)  # fmt: skip
    stage.atoll("server", "stop", "vnf-2", "--site", "site-2")
    stage.say("  and at site-2, a field engineer on the site's own API:")
    _at_site(stage, bed, site2, "volume", "create", "field-notes", "--size", "1")
    _at_site(stage, bed, site2, "server", "reboot", "vnf-2")
    _at_site(stage, bed, site2, "volume", "list")

    stage.atoll("testbed", "heal", "site-2", "--dir", str(directory))
    wait("site-2 online again", lambda: _state(stage, "site-2") == "online", 60)

    def converged() -> bool:
        listed = stage.atoll_json("volume", "list", "--site", "site-2", quiet=True)
        volumes = {v["name"]: v for v in listed}
        return ("field-notes" in volumes and volumes["field-notes"].get("origin") == "site"
                and _state_of(volumes.get("logs") or {}) == "AVAILABLE"
                and bool(stage.atoll_json("conflict", "list", quiet=True)))  # fmt: skip

    wait("the hub and site-2 to converge", converged, 60)
    stage.atoll("volume", "list", "--site", "site-2", "-c", "name", "-c", "origin", "-c",
                "status")  # fmt: skip
    stage.check(True, "the field engineer's volume adopted by the hub (origin site); the "
                      "NOC's volume delivered after the partition")  # fmt: skip
    stage.atoll("site", "operations", "site-2")
    conflicts = stage.atoll_json("conflict", "list")
    stage.atoll("conflict", "list")
    stage.check(len(conflicts) == 1,
                "one conflict: vnf-2 changed at both ends (stopped at the hub, rebooted at the "
                "site); the hub holds its intent until the NOC decides")  # fmt: skip
    columns = ["-c", "name", "-c", "op", "-c", "state", "-c", "resolution"]
    stage.atoll("conflict", "resolve", conflicts[0]["id"], "--keep", "hub", *columns)
    wait("vnf-2 stopped at site-2", lambda: _server(stage, site2, "SHUTOFF"), 60)
    stage.check(True, "resolved --keep hub: the hub's stop reached the site over its change")

    def caught_up() -> tuple[int, int] | None:
        try:
            sync = site_get(bed, site2, "/health").get("sync") or {}
        except PermanentError:  # not answering yet: look again
            return None
        hub_seq = stage.atoll_json("site", "show", "site-2", quiet=True)["sync"]["acked_seq"]
        if sync.get("outbox_depth") != 0 or sync.get("acked_seq") != hub_seq:
            return None
        return hub_seq, len(stage.atoll_json("site", "operations", "site-2", quiet=True))

    recorded = wait("site-2's outbox to drain", caught_up, 60)
    assert isinstance(recorded, tuple)
    stage.check(True, f"nothing lost: every fact site-2 numbered (1..{recorded[0]}) is "
                      f"recorded at the hub and its outbox is empty ({recorded[1]} operation "
                      "records among them)")  # fmt: skip


def _place(stage: Stage, site: SiteState, cmdline: str) -> None:
    where = ["--site", site.name, "--project", PROJECT]
    net = f"10.{64 + site.index}.0"
    stage.atoll("network", "create", "lan", "--segment-type", "flat", "--physical-network",
                "lan", *where, show=False)  # fmt: skip
    stage.atoll("network", "subnet-create", "lan", f"{net}.0/24", "--gateway", f"{net}.1",
                *where, show=False)  # fmt: skip
    stage.atoll("server", "create", f"vnf-{site.index}", "--flavor", "vnf.small", "--kernel",
                "ref-kernel", "--ramdisk", "ref-initrd", "--kernel-cmdline", cmdline,
                "--network", "lan", *where, show=site.index == 1)  # fmt: skip


def _server(stage: Stage, site: SiteState, state: str) -> dict[str, Any] | None:
    """The hub's view of vnf-N (intent, and the status the site reported) if in ``state``."""
    found = stage.atoll_json("server", "show", f"vnf-{site.index}", "--site", site.name,
                             quiet=True)  # fmt: skip
    return found if _state_of(found) == state else None


def _state_of(obj: dict[str, Any]) -> str | None:
    """An object's observed state: ``status`` is the site's report (a list row shows only
    its state)."""
    status = obj.get("status")
    return str(status.get("state")) if isinstance(status, dict) else status


def _guest_ip(stage: Stage, site: SiteState) -> str:
    server = stage.atoll_json("server", "show", f"vnf-{site.index}", "--site", site.name)
    facts = (server.get("status") or {}).get("facts") or {}
    for nic in facts.get("addresses") or []:
        if nic.get("ip"):
            return str(nic["ip"])
    raise DemoFailure(f"the site reported no address for vnf-{site.index}: {server}")


def _state(stage: Stage, name: str) -> str:
    return str(stage.atoll_json("site", "show", name, quiet=True).get("state"))


def _site_env(bed: BedState, site: SiteState) -> dict[str, str]:
    return {"ATOLL_SITE_URL": site.url, "ATOLL_SITE_CA_FILE": str(bed.ca_file)}


def _at_site(stage: Stage, bed: BedState, site: SiteState, *argv: str) -> str:
    """``atoll ARGV`` as the field engineer types it at the site (inside its namespace, on
    its local API, with the local admin's token)."""
    env = {**stage.env, **_site_env(bed, site)}
    token = _run_in(site, ["site-agent", "token", "--secret", str(site.secret)], env).strip()
    stage.say(f"  [{site.name}]$ atoll {' '.join(argv)}")
    out = _run_in(site, list(argv), {**env, "ATOLL_SITE_TOKEN": token})
    for line in out.rstrip().splitlines()[:8]:
        stage.say(f"    {line}")
    return out


def _run_in(site: SiteState, argv: list[str], env: dict[str, str]) -> str:
    argv = ["ip", "netns", "exec", site.netns, sys.executable, "-m", "atoll", *argv]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode != 0:
        raise DemoFailure(f"at {site.name}: atoll {' '.join(argv)}: {proc.stdout}{proc.stderr}")
    return proc.stdout


def _down(stage: Stage, directory: object) -> None:
    subprocess.run([sys.executable, "-m", "atoll", "testbed", "down", "--dir", str(directory)],
                   capture_output=True, timeout=300)  # fmt: skip
