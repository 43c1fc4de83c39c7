"""``atoll testbed up``: the WAN, the hub, the private OVS and the sites, in that order.

The hub runs in the host's namespace on the WAN bridge's address; each site agent runs in a
namespace of its own whose only link is a veth to the WAN bridge (so cutting that link is a
real partition), with its API on its WAN address over TLS (a testbed CA). Real sites drive
the host's libvirtd and one private OVS shared by all sites (one integration bridge each);
guests and their taps live in the host's namespace, which the agents reach by name
(``[network] datapath_namespace``). Fake sites run the same agent on in-memory drivers.

Everything is recorded in ``testbed.json`` *before* it is made, so a failed or interrupted
``up`` is undone by :func:`atoll.testbed.bed.teardown.down`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atoll import certs
from atoll.client import Client, HubClient
from atoll.errors import Conflict, NotFound
from atoll.testbed.bed import procs
from atoll.testbed.bed.state import HUB_PORT, RECORD, SITE_PORT, BedState, SiteState
from atoll.testbed.services import libvirtd
from atoll.testbed.services.netns import ip
from atoll.testbed.services.ovs import PrivateOVS

Say = Callable[[str], None]


def up(
    directory: Path,
    sites: int,
    fake_sites: int = 0,
    wan_latency: str = "",
    wan_loss: str = "",
    say: Say = print,
    simulated: int = 0,
) -> BedState:
    """Bring a testbed up in ``directory``; on any failure everything made is removed."""
    from atoll.testbed.bed import faults, teardown

    directory.mkdir(parents=True, exist_ok=True)
    if (directory / RECORD).exists():
        raise Conflict(
            f"a testbed is recorded at {directory}; `atoll testbed down --dir {directory}` first"
        )
    bed = BedState.new(directory)
    bed.save()
    try:
        say(f"testbed {bed.tag} in {bed.dir}: WAN {bed.wan_prefix}.0/24 on {bed.wan_bridge}")
        _wan(bed)
        _hub(bed, say)
        real = [("real", i) for i in range(1, sites + 1)]
        fake = [("fake", i) for i in range(sites + 1, sites + fake_sites + 1)]
        if real:
            libvirtd.ensure_libvirtd()
            PrivateOVS(bed.ovs_dir, detach=True).start()
            say(f"  private OVS under {bed.ovs_dir} (netdev datapath)")
        _ca(bed)
        for drivers, index in [*real, *fake]:
            site = _site(bed, index, drivers)
            bed.sites.append(site)
            bed.save()
            start_agent(bed, site)
            bed.save()
            say(f"  {site.name}: {drivers} drivers, namespace {site.netns}, API {site.url}")
        if bed.sites:
            join(bed, bed.sites, say)
        if simulated:
            start_simulator(bed, simulated, say)
        if wan_latency or wan_loss:
            for site in bed.sites:
                faults.degrade(bed, site.name, wan_latency, wan_loss)
            say(f"  WAN degraded: latency {wan_latency or '0'}, loss {wan_loss or '0%'}")
        bed.save()
        env = bed.path / "env.sh"
        env.write_text(
            f"export XDG_CONFIG_HOME={bed.path / 'config'}\n"
            f"# the hub: {bed.hub_url} (logged in as admin); sites' CA: {bed.ca_file}\n"
        )
        say(f"up: hub {bed.hub_url}; `source {env}` to use the atoll CLI against it")
        return bed
    except BaseException:
        say("bring-up failed: removing what was made")
        teardown.down(directory, say=lambda _line: None)
        raise


def join(bed: BedState, sites: list[SiteState], say: Say, timeout: float = 120) -> None:
    """Join ``sites`` the way a field engineer does: find them by zeroconf (``atoll site
    discover``), make a join code for each at the hub, paste it into the agent (``atoll
    site-agent join CODE`` in the site's namespace; the running agent attaches), then wait
    until the hub sees each site online."""
    env = procs.clean_env(bed.env)
    wanted = {s.name for s in sites}

    def advertised() -> set[str]:
        found = json.loads(procs.run(procs.atoll_argv("site", "discover", "--timeout", "2",
                                                      "-f", "json"), env=env))  # fmt: skip
        names = {str(row.get("name")) for row in found}
        return wanted if wanted <= names else set()

    procs.wait_for(f"{', '.join(sorted(wanted))} to advertise by zeroconf", advertised, timeout)
    say(f"  discovered by zeroconf: {', '.join(sorted(wanted))}")
    for site in sites:
        code = procs.run(procs.atoll_argv("site", "token", "create", site.name, "--ttl", "3600"),
                         env=env).strip()  # fmt: skip
        procs.run(procs.atoll_argv("site-agent", "join", code, "--data-dir", site.data_dir,
                                   netns=site.netns))  # fmt: skip
    client = hub_client(bed)

    def online() -> bool:
        states = {s["name"]: s["state"] for s in client.list_all("/v1/sites")}
        return all(states.get(name) == "online" for name in wanted)

    procs.wait_for("the sites to come online at the hub", online, timeout)
    say(f"  joined with one-time codes and online: {', '.join(sorted(wanted))}")


def hub_client(bed: BedState) -> HubClient:
    """A client of the testbed's hub, logged in as its admin."""
    client = HubClient(bed.hub_url, ca_file=str(bed.hub_data / "ca.pem"))
    issued = client.post("/v1/auth/tokens", {"user": "admin", "password": bed.admin_password})
    client.token = str(issued["token"])
    return client


def start_simulator(bed: BedState, count: int, say: Say, timeout: float = 600) -> None:
    """``count`` simulated sites (:mod:`atoll.testbed.simulated`) in one process of their
    own, joined through the real join API; wait until the hub sees them all online."""
    bed.simulated = count
    log = bed.path / "logs" / "simulated.log"
    env = procs.clean_env({"ATOLL_TESTBED_ADMIN_PASSWORD": bed.admin_password})
    argv = [sys.executable, "-m", "atoll.testbed.simulated", "--hub", bed.hub_url, "--ca-file",
            str(bed.hub_data / "ca.pem"), "--count", str(count), "--testbed", bed.dir]  # fmt: skip
    bed.simulator_pid = procs.start(argv, log, env)
    bed.save()
    client = hub_client(bed)

    def online() -> bool:
        sites = client.list_all("/v1/sites", {"limit": "1000"})
        return bool(
            sum(s["name"].startswith("sim-") and s["state"] == "online" for s in sites) >= count
        )

    procs.wait_for(f"{count} simulated sites online", online, timeout, log, bed.simulator_pid)
    say(f"  {count} simulated sites joined and online (one process, real mTLS sessions)")


def _wan(bed: BedState) -> None:
    ip("netns", "attach", bed.host_netns, str(os.getpid()))
    ip("link", "add", bed.wan_bridge, "type", "bridge")
    ip("addr", "add", f"{bed.hub_ip}/24", "dev", bed.wan_bridge)
    ip("link", "set", bed.wan_bridge, "up")


def _hub(bed: BedState, say: Say) -> None:
    env = procs.clean_env({**bed.env, "ATOLL_ADMIN_PASSWORD": bed.admin_password})
    procs.run(procs.atoll_argv("hub", "init", "--data-dir", str(bed.hub_data),
                               "--san", bed.hub_ip), env=env)  # fmt: skip
    start_hub(bed)
    procs.run(procs.atoll_argv("login", "--url", bed.hub_url, "--user", "admin", "--password",
                               bed.admin_password, "--ca-file", str(bed.hub_data / "ca.pem")),
              env=procs.clean_env(bed.env))  # fmt: skip
    say(f"  hub {bed.hub_url} (pid {bed.hub_pid}), admin logged in (XDG_CONFIG_HOME)")


HUB_CONFIG = """[hub]
# a testbed is for watching sites come and go: heartbeats every 2 s, a silent site offline
# after 8 s (a production hub: 10 s and 40 s); alarms evaluated every 5 s (60 s)
sync_heartbeat_interval = 2.0
sync_dead_after = 8.0
alarm_interval = 5.0
"""


def start_hub(bed: BedState) -> None:
    """Start (or start again) the hub on the WAN address; wait until it answers."""
    log = bed.path / "logs" / "hub.log"
    config = bed.path / "hub.toml"
    config.write_text(HUB_CONFIG)
    bed.hub_pid = procs.start(
        procs.atoll_argv("hub", "serve", "--data-dir", str(bed.hub_data), "--host", bed.hub_ip,
                         "--port", str(HUB_PORT), "--config", str(config)),
        log, procs.clean_env(bed.env),
    )  # fmt: skip
    bed.save()
    context = ssl.create_default_context(cafile=str(bed.hub_data / "ca.pem"))
    procs.wait_for("the hub", lambda: _answers(f"{bed.hub_url}/healthz", context), 60, log,
                   bed.hub_pid)  # fmt: skip


def _answers(url: str, context: ssl.SSLContext) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context):  # noqa: S310
            return True
    except (urllib.error.URLError, OSError):
        return False


def _ca(bed: BedState) -> None:
    ca = certs.new_ca("Atoll testbed CA")
    certs.write_pem(bed.ca_file, ca.cert_pem())
    certs.write_pem(bed.ca_file.with_name("ca-key.pem"), ca.key_pem(), private=True)


def _site(bed: BedState, index: int, drivers: str) -> SiteState:
    name = f"site-{index}"
    data = bed.path / "sites" / name
    site = SiteState(
        name=name,
        index=index,
        netns=f"atoll-{bed.tag}-s{index}",
        host_link=f"at-{bed.tag}-h{index}",
        ip=f"{bed.wan_prefix}.{10 + index}",
        drivers=drivers,
        data_dir=str(data / "data"),
        config=str(data / "agent.toml"),
    )
    bed.sites.append(site)  # recorded before it is made
    bed.save()
    bed.sites.remove(site)
    _namespace_on_veth(site.netns, site.host_link, f"at-{bed.tag}-n{index}", "wan0",
                       f"{site.ip}/24")  # fmt: skip
    ip("link", "set", site.host_link, "master", bed.wan_bridge)
    ip("link", "set", site.host_link, "up")
    if drivers == "real":
        _lan(site)
    _site_files(bed, site, data)
    return site


def _namespace_on_veth(netns: str, outer: str, inner: str, name: str, cidr: str) -> None:
    """A new namespace ``netns`` whose link ``name`` (address ``cidr``, up) is the far end of
    a veth whose near end, ``outer``, stays in the host's namespace (down: the caller wires
    it and brings it up); ``inner`` names the far end until it is moved and renamed."""
    ip("netns", "add", netns)
    ip("link", "set", "lo", "up", netns=netns)
    ip("link", "add", outer, "type", "veth", "peer", "name", inner)
    ip("link", "set", inner, "netns", netns)
    ip("link", "set", inner, "name", name, netns=netns)
    ip("addr", "add", cidr, "dev", name, netns=netns)
    ip("link", "set", name, "up", netns=netns)


def _lan(site: SiteState) -> None:
    """The site's LAN: its OVS uplink (a veth in the host's namespace) and a client at the
    other end, in a namespace of its own, the way a field engineer's laptop hangs off a site
    switch. Offloads off: the userspace datapath does not fill in checksums."""
    _namespace_on_veth(site.lan_netns, site.lan_uplink, site.lan_uplink.replace("-l", "-c", 1),
                       "lan0", f"{site.lan_client_ip}/24")  # fmt: skip
    ip("link", "set", site.lan_uplink, "up")
    procs.run(["ethtool", "-K", site.lan_uplink, "tx", "off"])
    procs.run(["ip", "netns", "exec", site.lan_netns, "ethtool", "-K", "lan0", "tx", "off"])


def _site_files(bed: BedState, site: SiteState, data: Path) -> None:
    ca = certs.load_key_and_cert(bed.ca_file.with_name("ca-key.pem"), bed.ca_file)
    api = certs.issue_server_cert(ca, site.name, [], [ipaddress.ip_address(site.ip)])
    certs.write_pem(data / "api.pem", api.cert_pem())
    certs.write_pem(data / "api-key.pem", api.key_pem(), private=True)
    lines = [
        "[site_agent]",
        f'site_name = "{site.name}"',
        f'host = "{site.ip}"',
        f"port = {SITE_PORT}",
        f'drivers = "{site.drivers}"',
        f'tls_cert_file = "{data / "api.pem"}"',
        f'tls_key_file = "{data / "api-key.pem"}"',
        "reconcile_interval = 1.0",
        # samples every 2 s, site alarms evaluated every 2 s, telemetry to the hub every 5 s
        # (a production site: 10 s, 30 s, 60 s)
        "[telemetry]",
        "interval = 2.0",
        "alarm_interval = 2.0",
        "[hub]",
        "sync_telemetry_interval = 5.0",
        # a partition healed is seen within seconds: reconnects at most 5 s apart (a
        # production site: up to 120 s, so that a restarted hub's fleet comes back spread)
        "sync_reconnect_initial = 2.0",
        "sync_reconnect_max = 5.0",
    ]
    if site.drivers == "real":
        ovs = PrivateOVS(bed.ovs_dir)
        lines += [
            "[compute]",
            'virt_type = "qemu"',
            f'name_prefix = "{site.domain_prefix}"',
            "shutdown_timeout = 5.0",
            "[network]",
            f'ovsdb_remote = "{ovs.remote}"',
            f'integration_bridge = "br{bed.tag}s{site.index}"',
            f'device_prefix = "at-{bed.tag}"',
            f'owner = "{site.netns}"',
            f'datapath_namespace = "{bed.host_netns}"',
            f'physical_networks = ["lan:{site.lan_uplink}"]',
        ]
    Path(site.config).write_text("\n".join(lines) + "\n")


def start_agent(bed: BedState, site: SiteState, timeout: float = 120) -> None:
    """Start (or start again) ``site``'s agent in its namespace; wait until it serves."""
    log = Path(site.data_dir).parent / "agent.log"
    offset = log.stat().st_size if log.exists() else 0
    site.pid = procs.start(
        procs.atoll_argv("site-agent", "run", "--data-dir", site.data_dir, "--config",
                         site.config, netns=site.netns),
        log,
    )  # fmt: skip

    def listening() -> bool:
        return "listening on" in log.read_text(errors="replace")[offset:]

    procs.wait_for(f"the agent of {site.name}", listening, timeout, log, site.pid)
    found = re.search(r"secret: (\S+)", log.read_text(errors="replace")[offset:])
    if found:
        site.secret = found.group(1)


def site_token(bed: BedState, site: SiteState) -> str:
    """A token for ``site``'s local API (its local admin credential)."""
    if not site.secret:
        raise NotFound(f"{site.name}'s local credential was not recorded")
    client = Client(site.url, ca_file=str(bed.ca_file))
    return str(client.post("/v1/auth/tokens", {"name": "admin", "secret": site.secret})["token"])


_SITE_GET = """
import json, sys
from atoll.client import Client
url, ca, secret, path = sys.argv[1:5]
client = Client(url, ca_file=ca)
client.token = client.post("/v1/auth/tokens", {"name": "admin", "secret": secret})["token"]
print(json.dumps(client.get(path)))
"""


def site_get(bed: BedState, site: SiteState, path: str) -> Any:
    """``GET path`` on ``site``'s own API as its local admin, from inside its namespace
    (where a field engineer stands: reachable whatever its WAN link does)."""
    if not site.secret:
        raise NotFound(f"{site.name}'s local credential was not recorded")
    argv = ["ip", "netns", "exec", site.netns, sys.executable, "-c", _SITE_GET, site.url,
            str(bed.ca_file), site.secret, path]  # fmt: skip
    return json.loads(procs.run(argv, timeout=60))
