"""Act: a standalone edge site boots the reference VNF on real libvirt and OVS, and survives
``kill -9`` of its agent.

The site's LAN is a network namespace ("field-laptop") wired to the OVS uplink by a veth
pair, the way a field engineer's laptop hangs off a site switch. The agent runs as a daemon
with its own private OVS; the guest takes its address from the config drive and answers HTTP
and UDP echo to the laptop through OVS.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from atoll.testbed.demo.stage import DemoFailure, Stage
from atoll.testbed.services import libvirtd
from atoll.testbed.services.netns import HostNetwork, ip
from atoll.testbed.services.ovs import PrivateOVS
from atoll.testbed.services.ports import free_port

LAN = "10.64.0.0/24"
LAPTOP_IP = "10.64.0.250"


def _in_netns(netns: str, code: str) -> str:
    """Run Python ``code`` inside ``netns``; its stdout ('' on failure)."""
    proc = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=20)  # fmt: skip
    return proc.stdout.strip() if proc.returncode == 0 else ""


def http_get(netns: str, url: str) -> str:
    return _in_netns(netns, "import urllib.request as u; "
                     f"print(u.urlopen({url!r}, timeout=3).read().decode())")  # fmt: skip


def udp_echo(netns: str, host: str, payload: str) -> str:
    return _in_netns(netns, "import socket; s = socket.socket(socket.AF_INET, "
                     "socket.SOCK_DGRAM); s.settimeout(3); "
                     f"s.sendto({payload.encode()!r}, ({host!r}, 7)); "
                     "print(s.recvfrom(2048)[0].decode())")  # fmt: skip


def wait(what: str, probe: object, timeout: float) -> object:
    assert callable(probe)
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise DemoFailure(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)
    return value


def _prepare_host(stage: Stage, tag: str) -> tuple[PrivateOVS, str, str]:
    """Private OVS, the laptop namespace on an uplink veth; everything removed at the end."""
    ovs = PrivateOVS(Path("/tmp") / f"atoll-demo-ovs-{tag}").start()
    stage.stack.callback(ovs.stop)
    net = HostNetwork()
    stage.stack.callback(net.close)
    laptop = net.netns("laptop")
    uplink, inner = net.veth(None, laptop)
    ip("link", "set", uplink, "mtu", "1500")
    net.add_address(inner, f"{LAPTOP_IP}/24", netns=laptop)
    subprocess.run(["ethtool", "-K", uplink, "tx", "off"], capture_output=True)
    subprocess.run(["ip", "netns", "exec", laptop, "ethtool", "-K", inner, "tx", "off"],
                   capture_output=True)  # fmt: skip
    return ovs, laptop, uplink


def _hub_settings(stage: Stage) -> str:
    """The agent's site name and [hub] table (when the hub act ran); the file's last tables.
    Which hub, and the site's identity, come from joining it (:func:`_join`)."""
    if "site" not in stage.facts:
        return ""
    return f'site_name = "{stage.facts["site"]}"\n[hub]\nimage_poll_interval = 1.0\n'


def _join(stage: Stage, data: Path) -> None:
    """The field engineer joins the site with the code the operator made (when the hub act
    ran): the hub CA pinned, a site certificate, nothing else to configure."""
    if "join_code" in stage.facts:
        stage.atoll("site-agent", "join", stage.facts["join_code"], "--data-dir", str(data))


def _images(stage: Stage) -> tuple[str, str, str]:
    """Kernel id, ramdisk id and kernel command line of the reference VNF at this site: pulled
    from the hub where the catalog act prestaged them, else built and added on the spot."""
    if "site" in stage.facts:
        site = stage.facts["site"]

        def pulled() -> bool:
            transfers = stage.atoll_json("image", "transfers", "--site", site)
            return bool(transfers) and all(t["state"] == "done" for t in transfers)

        wait("the prestaged images to arrive", pulled, 120)
        stage.atoll("image", "transfers", "--site", site)
        stage.atoll("site-agent", "images")
        stage.check(True, f"the agent pulled both prestaged images from the hub as {site}")
        kernel, ramdisk = stage.facts["kernel"], stage.facts["ramdisk"]
        return str(kernel["id"]), str(ramdisk["id"]), str(stage.facts["cmdline"])
    ref = json.loads(stage.atoll("image", "build-reference", str(stage.work / "ref"),
                                 "-f", "json", show=False))  # fmt: skip
    stage.say(f"  reference VNF image: kernel {ref['kernel_version']} + busybox initramfs")
    stage.atoll("site-agent", "image-add", "ref-kernel", ref["kernel"], show=False)
    stage.atoll("site-agent", "image-add", "ref-initrd", ref["initramfs"], show=False)
    return "ref-kernel", "ref-initrd", str(ref["cmdline"])


def _start_agent(stage: Stage, config: Path, data: Path, port: int) -> subprocess.Popen[bytes]:
    return stage.daemon(f"site-agent-{port}",
                        ["site-agent", "run", "--data-dir", str(data), "--config", str(config),
                         "--port", str(port)],
                        ready="listening on", timeout=120)  # fmt: skip


def play(stage: Stage) -> None:
    tag = secrets.token_hex(2)
    prefix = f"atoll-demo-{tag}-"
    ovs, laptop, uplink = _prepare_host(stage, tag)
    conn = libvirtd.connect()
    stage.stack.callback(conn.close)
    stage.stack.callback(libvirtd.remove_domains, conn, prefix)
    config = stage.work / "site.toml"
    config.write_text(
        f'[compute]\nvirt_type = "qemu"\nname_prefix = "{prefix}"\nshutdown_timeout = 5.0\n'
        f'[network]\novsdb_remote = "{ovs.remote}"\nintegration_bridge = "br-demo{tag}"\n'
        f'device_prefix = "dm{tag}-"\nowner = "atoll-demo-{tag}"\n'
        f'physical_networks = ["lan:{uplink}"]\n'
        "[site_agent]\nreconcile_interval = 0.5\n" + _hub_settings(stage)
    )
    stage.say(f"  site config {config}: private OVS, uplink {uplink} to the laptop namespace "
              f"{laptop} ({LAPTOP_IP})")  # fmt: skip
    data, port = stage.work / "site", free_port()
    _join(stage, data)
    agent = _start_agent(stage, config, data, port)
    secret = re.search(r"secret: (\S+)", (stage.work / f"site-agent-{port}.log").read_text())
    if not secret:
        raise DemoFailure("the agent did not print its local admin credential at first start")
    url = f"http://127.0.0.1:{port}"
    stage.env.update(ATOLL_SITE_URL=url)
    token = stage.atoll("site-agent", "token", "--secret", secret.group(1), show=False).strip()
    stage.env.update(ATOLL_SITE_TOKEN=token)
    stage.say("  (ATOLL_SITE_URL and ATOLL_SITE_TOKEN set from `atoll site-agent token`)")

    kernel, ramdisk, cmdline = _images(stage)
    stage.atoll("network", "create", "lan", "--segment-type", "flat",
                "--physical-network", "lan", show=False)  # fmt: skip
    stage.atoll("network", "subnet-create", "lan", LAN, "--gateway", "10.64.0.1", show=False)
    started = time.monotonic()
    stage.atoll("server", "create", "web1", "--flavor", "small", "--kernel", kernel,
                "--ramdisk", ramdisk, "--kernel-cmdline", cmdline,
                "--network", "lan", show=False)  # fmt: skip

    def active() -> dict[str, object] | None:
        server = stage.atoll_json("server", "show", "web1")
        return server if server.get("status") == "ACTIVE" else None

    server = wait("web1 ACTIVE", active, 120)
    assert isinstance(server, dict)
    guest_ip = server["networks"][0]["ip"]
    page = str(wait("web1 to answer HTTP", lambda: http_get(laptop, f"http://{guest_ip}/"), 180))
    stage.check(page == f"hostname=web1 instance-id={server['id']}",
                f"from the laptop: GET http://{guest_ip}/ -> {page!r} "
                f"({time.monotonic() - started:.1f}s after `server create`)")  # fmt: skip
    echo = udp_echo(laptop, guest_ip, "atoll")
    stage.check(echo == "atoll", f"UDP echo on port 7 -> {echo!r}")
    stage.atoll("server", "list")

    os.kill(agent.pid, signal.SIGKILL)
    agent.wait()
    stage.say(f"  kill -9 of the site agent (pid {agent.pid}); the guest keeps running")
    _start_agent(stage, config, data, port)
    again = http_get(laptop, f"http://{guest_ip}/")
    listed = stage.atoll_json("server", "list")
    stage.check(len(listed) == 1 and listed[0]["status"] == "ACTIVE" and again == page,
                "restarted agent: still exactly one server, ACTIVE, still answering")  # fmt: skip

    stage.atoll("server", "delete", "web1")
    wait("web1 gone", lambda: not stage.atoll_json("server", "list"), 60)
    stage.atoll("network", "delete", "lan")
    wait("lan gone", lambda: not stage.atoll_json("network", "list"), 30)
    left = [d.name() for d in conn.listAllDomains() if d.name().startswith(prefix)]
    ports = ovs.vsctl("list-ports", f"br-demo{tag}").split() if ovs.bridges() else []
    stage.check(not left and not [p for p in ports if p.startswith(f"dm{tag}")],
                "after delete: no domain, no tap, no OVS port left")  # fmt: skip
