"""Act: the fleet — two sites in network namespaces of their own join the hub by zeroconf and
one-time codes, one VNF instance is instantiated from the hub over both (a VNFC of the
reference VNF at each), site-2 is cut off, both sides change things meanwhile (the hub stops
site-2's VNFC server, the field engineer reboots it), and the link comes back: the hub adopts
what the site did, delivers what it held, and shows the one conflict, which the NOC resolves;
the instance is then terminated and deleted, leaving nothing at either site.

Everything goes through the commands a person types: ``atoll testbed`` plays the field
engineer and the WAN, the ``atoll`` CLI talks to the testbed's hub, and the field engineer's
own commands run inside the site's namespace against its local API.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atoll.errors import PermanentError
from atoll.testbed.bed.bringup import site_get
from atoll.testbed.bed.state import BedState, SiteState
from atoll.testbed.demo import dashboard
from atoll.testbed.demo.packages import file_sha512, spread_package, spread_policies
from atoll.testbed.demo.site import http_get, wait
from atoll.testbed.demo.stage import DemoFailure, Stage

PROJECT = "telco-a"
NOC_PASSWORD = "noc-" + secrets.token_urlsafe(12)


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

    noc = _noc(stage, bed, directory)
    instance_id, vnfcs = _instantiate(stage, bed, noc)
    pages = {}
    for site in bed.sites:
        vnfc = vnfcs[site.name]
        url = f"http://{vnfc.ip}/"
        page = str(wait(f"{vnfc.name} to answer HTTP",
                        lambda site=site, url=url: http_get(site.lan_netns, url), 180))  # fmt: skip
        pages[site.name] = (vnfc.ip, page)
        stage.check(page.startswith(f"hostname={vnfc.name} "),
                    f"VNFC {vnfc.id} of the one VNF instance, running at {site.name}: "
                    f"GET {url} from its LAN -> {page!r}")  # fmt: skip
    stage.atoll("server", "list", "--site", "site-1")
    vnfc1 = vnfcs["site-1"]
    console = stage.atoll("server", "console", vnfc1.name, "--site", "site-1", "--lines", "20")
    stage.check(f"ready hostname={vnfc1.name} " in console,
                f"{vnfc1.name}'s console read through the hub: the site answered over its "
                "sync session")  # fmt: skip

    site2 = bed.site("site-2")
    stage.atoll("testbed", "partition", "site-2", "--dir", str(directory))
    wait("site-2 offline at the hub", lambda: _state(stage, "site-2") == "offline", 30)
    stage.atoll("site", "list", "-c", "name", "-c", "state", "-c", "last_seen")
    shot = dashboard.fleet_overview(bed.hub_url, "admin", bed.admin_password, "fleet-overview.png")
    stage.check(shot.is_file(), f"the NOC dashboard shows site-2 offline: screenshot {shot}")
    guest, page = pages["site-2"]
    stage.check(
        http_get(site2.lan_netns, f"http://{guest}/") == page,
        "site-2 is cut off (offline at the hub) and its VNFC still answers on its LAN",
    )

    stage.say("  meanwhile, at the hub (the NOC):")
    stage.atoll("volume", "create", "logs", "--size", "1", "--site", "site-2", "--project",
                PROJECT, show=False)  # fmt: skip
    vnfc2 = vnfcs["site-2"]
    stage.atoll("server", "stop", vnfc2.name, "--site", "site-2")
    stage.say("  and at site-2, a field engineer on the site's own API:")
    _at_site(stage, bed, site2, "volume", "create", "field-notes", "--size", "1")
    _at_site(stage, bed, site2, "server", "reboot", vnfc2.name)
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
                f"one conflict: VNFC {vnfc2.id}'s server {vnfc2.name} changed at both ends "
                "(stopped at the hub, rebooted at the site); the hub holds its intent until the "
                "NOC decides")  # fmt: skip
    columns = ["-c", "name", "-c", "op", "-c", "state", "-c", "resolution"]
    stage.atoll("conflict", "resolve", conflicts[0]["id"], "--keep", "hub", *columns)
    wait(f"{vnfc2.name} stopped at site-2", lambda: _server(stage, vnfc2, "SHUTOFF"), 60)
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
    _terminate(stage, noc, instance_id, vnfcs)


@dataclass(frozen=True)
class Vnfc:
    """One VNFC of the instance: its id, its server (id and name) and its site and address."""

    id: str
    server_id: str
    name: str
    site: str
    ip: str


def _noc(stage: Stage, bed: BedState, directory: Path) -> dict[str, str]:
    """telco-a's project, its NOC user, the project's LAN at each site, the reference VNF in
    the catalog and its package onboarded: the environment of the NOC's own shell."""
    ref = stage.atoll_json("image", "build-reference", str(stage.work / "ref"))
    stage.atoll("image", "upload", ref["initramfs"], "--name", "ref-initrd", "--disk-format",
                "ari", "--public", show=False)  # fmt: skip
    stage.atoll_json("image", "upload", ref["kernel"], "--name", "ref-kernel", "--disk-format",
                     "aki", "--ramdisk", "ref-initrd", "--public", "--property",
                     f"cmdline={ref['cmdline']}")  # fmt: skip
    stage.atoll("project", "create", PROJECT, show=False)
    stage.atoll("user", "create", "noc", "--password", NOC_PASSWORD, show=False)
    stage.atoll("role", "add", "--user", "noc", "--project", PROJECT, "--role", "member",
                show=False)  # fmt: skip
    for site in bed.sites:
        where = ["--site", site.name, "--project", PROJECT]
        net = f"10.{64 + site.index}.0"
        stage.atoll("network", "create", "lan", "--segment-type", "flat", "--physical-network",
                    "lan", *where, show=False)  # fmt: skip
        stage.atoll("network", "subnet-create", "lan", f"{net}.0/24", "--gateway", f"{net}.1",
                    *where, show=False)  # fmt: skip
    noc = {"XDG_CONFIG_HOME": str(directory / "noc-config")}
    stage.atoll("login", "--url", bed.hub_url, "--user", "noc", "--password", NOC_PASSWORD,
                "--project", PROJECT, "--ca-file", str(bed.hub_data / "ca.pem"), env=noc,
                show=False)  # fmt: skip
    # two VDU1 instances from the start, never two in one zone: one per site
    policies = spread_policies({"VDU1": 2})
    package = spread_package(stage.work / "fleet-vnf", file_sha512(ref["kernel"]), policies)
    onboarded = stage.atoll_json("vnf", "package", "upload", str(package), "--image-map",
                                 "VDU1=ref-kernel", env=noc)  # fmt: skip
    stage.check(onboarded["onboardingState"] == "ONBOARDED",
                f"the NOC (noc@{PROJECT}) onboarded getting-started, VDU1 twice with zone "
                "anti-affinity, mapped to the reference VNF image ref-kernel")  # fmt: skip
    return {**noc, "VNFD_ID": str(onboarded["vnfdId"])}


def _instantiate(stage: Stage, bed: BedState, noc: dict[str, str]) -> tuple[str, dict[str, Vnfc]]:
    """One VNF instance over both sites, from the hub; its VNFCs by site name."""
    vnfd_id = noc.pop("VNFD_ID")
    instance = stage.atoll_json("vnf", "instance", "create", vnfd_id, "--name", "edge-web",
                                env=noc)  # fmt: skip
    sites = [arg for site in bed.sites for arg in ("--site", site.name)]
    stage.atoll("vnf", "instance", "instantiate", instance["id"], "--flavour", "simple", *sites,
                "--ext-link", "CP1=lan", "--wait", "--timeout", "300", env=noc)  # fmt: skip
    stage.atoll("vnf", "instance", "show", instance["id"], env=noc)
    stage.atoll("vnf", "op", "list", "--instance", instance["id"], env=noc)
    shown = stage.atoll_json("vnf", "instance", "show", instance["id"], env=noc)
    names = {stage.atoll_json("site", "show", s.name, quiet=True)["id"]: s.name
             for s in bed.sites}  # fmt: skip
    vnfcs: dict[str, Vnfc] = {}
    for info in shown["instantiatedVnfInfo"]["vnfcResourceInfo"]:
        site = names[info["computeResource"]["vimConnectionId"]]
        server_id = info["computeResource"]["resourceId"]
        found = stage.atoll_json("server", "show", server_id, "--site", site, quiet=True)
        ips = [a["ip"] for a in (info.get("metadata") or {}).get("addresses", []) if a.get("ip")]
        if not ips:
            raise DemoFailure(f"the site reported no address for VNFC {info['id']}: {info}")
        vnfcs[site] = Vnfc(info["id"], server_id, found["name"], site, ips[0])
    vnfcs = {s.name: vnfcs[s.name] for s in bed.sites if s.name in vnfcs}  # in site order
    stage.check(len(vnfcs) == len(bed.sites),
                f"one VNF instance {instance['id'][:8]} instantiated from the hub over both sites "
                "(zone anti-affinity): " + ", ".join(f"{v.id} at {v.site}"
                                                     for v in vnfcs.values()))  # fmt: skip
    return str(instance["id"]), vnfcs


def _terminate(stage: Stage, noc: dict[str, str], instance_id: str, vnfcs: dict[str, Vnfc]) -> None:
    """Terminate and delete the instance; nothing of it is left at either site."""
    stage.atoll("vnf", "instance", "terminate", instance_id, "--wait", "--timeout", "300",
                env=noc)  # fmt: skip
    stage.atoll("vnf", "instance", "delete", instance_id, env=noc)
    for site in vnfcs:
        stage.atoll("server", "list", "--site", site)
    placed = [s for site in vnfcs for s in stage.atoll_json("server", "list", "--site", site)]
    servers = {v.server_id for v in vnfcs.values()}
    left = wait("the VNFCs' domains gone", lambda: not (servers & _domains()), 60)
    stage.check(not placed and bool(left),
                "terminated and deleted: no server of the VNF at the hub for either site, no "
                "libvirt domain of its VNFCs on the host")  # fmt: skip


def _domains() -> set[str]:
    """UUIDs (as server ids) of every libvirt domain on the host."""
    out = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--uuid"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return {line.strip().replace("-", "") for line in out.splitlines() if line.strip()}


def _server(stage: Stage, vnfc: Vnfc, state: str) -> dict[str, Any] | None:
    """The hub's view of the VNFC's server (intent, and the status the site reported) if in
    ``state``."""
    found = stage.atoll_json("server", "show", vnfc.server_id, "--site", vnfc.site, quiet=True)
    return found if _state_of(found) == state else None


def _state_of(obj: dict[str, Any]) -> str | None:
    """An object's observed state: ``status`` is the site's report (a list row shows only
    its state)."""
    status = obj.get("status")
    return str(status.get("state")) if isinstance(status, dict) else status


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
