"""Per-port MAC/IP anti-spoofing OpenFlow rules, installed with ``ovs-ofctl``.

For a port on OpenFlow port ``N`` with MAC ``M`` and fixed IPs, table 0 gets (all with the
port's own cookie, so they are replaced and removed as one set)::

    priority=100 in_port=N dl_src=M arp arp_sha=M arp_spa=<each IPv4>   -> NORMAL
    priority=100 in_port=N dl_src=M ip nw_src=<each IPv4>               -> NORMAL
    priority=100 in_port=N dl_src=M ipv6 ipv6_src=<each IPv6>           -> NORMAL
    priority=100 in_port=N dl_src=M ipv6 ipv6_src=fe80::/10             -> NORMAL (ND, RS)
    priority=100 in_port=N dl_src=M udp nw_src=0.0.0.0 68->67           -> NORMAL (DHCP)
    priority=90  in_port=N                                              -> drop

Everything else on the bridge keeps the default ``priority=0 actions=NORMAL``; traffic *to*
the port is not filtered (that is a security group's job, not anti-spoofing).

``ovs-ofctl`` talks to ovs-vswitchd's per-bridge management socket
(``<rundir>/<bridge>.mgmt``), which also works for a private instance.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import subprocess
from collections.abc import Iterable
from pathlib import Path

from atoll.site_agent.drivers.network.errors import NetworkFailure, NetworkUnavailable

log = logging.getLogger(__name__)

ALLOW, DROP = 100, 90


def port_cookie(port_id: str) -> int:
    """A stable, non-zero 63-bit cookie naming one port's flows."""
    digest = hashlib.sha256(port_id.encode()).digest()
    return (int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF) or 1


def antispoof_flows(port_id: str, ofport: int, mac: str, addresses: Iterable[str]) -> list[str]:
    cookie = f"cookie={port_cookie(port_id):#x}"
    mine = f"{cookie},table=0,priority={ALLOW},in_port={ofport},dl_src={mac}"
    flows = []
    for text in addresses:
        addr = ipaddress.ip_address(text)
        if addr.version == 4:
            flows.append(f"{mine},arp,arp_sha={mac},arp_spa={addr},actions=NORMAL")
            flows.append(f"{mine},ip,nw_src={addr},actions=NORMAL")
        else:
            flows.append(f"{mine},ipv6,ipv6_src={addr},actions=NORMAL")
    flows.append(f"{mine},ipv6,ipv6_src=fe80::/10,actions=NORMAL")
    flows.append(f"{mine},udp,nw_src=0.0.0.0,tp_src=68,tp_dst=67,actions=NORMAL")
    flows.append(f"{cookie},table=0,priority={DROP},in_port={ofport},actions=drop")
    return flows


class FlowTable:
    """OpenFlow table 0 of one bridge, driven through ``ovs-ofctl``. Blocking."""

    def __init__(self, bridge: str, rundir: Path, timeout: float = 10.0) -> None:
        self.bridge = bridge
        self.target = f"unix:{rundir / (bridge + '.mgmt')}"
        self.timeout = timeout

    def _ofctl(self, *args: str, stdin: str | None = None) -> str:
        argv = ["ovs-ofctl", f"--timeout={int(self.timeout)}", "-O", "OpenFlow14", *args]
        try:
            proc = subprocess.run(
                argv, input=stdin, capture_output=True, text=True, timeout=self.timeout + 5
            )
        except subprocess.TimeoutExpired as exc:
            raise NetworkUnavailable(f"ovs-ofctl on {self.bridge} timed out", delay=2.0) from exc
        if proc.returncode != 0:
            err = proc.stderr.strip()
            if "Connection refused" in err or "No such file" in err:
                raise NetworkUnavailable(
                    f"ovs-vswitchd does not answer for bridge {self.bridge} ({err})", delay=2.0
                )
            raise NetworkFailure(f"ovs-ofctl {' '.join(args[:2])} on {self.bridge} failed: {err}")
        return proc.stdout

    def install_port(self, port_id: str, ofport: int, mac: str, addresses: Iterable[str]) -> None:
        """Replace the port's rules with the anti-spoofing set for ``mac`` and ``addresses``."""
        flows = antispoof_flows(port_id, ofport, mac, addresses)
        # One OpenFlow bundle: the old set goes and the new one comes atomically, so a
        # re-plug never leaves the port unfiltered for a moment.
        mods = [f"delete cookie={port_cookie(port_id):#x}/-1", *(f"add {f}" for f in flows)]
        self._ofctl("--bundle", "add-flows", self.target, "-", stdin="\n".join(mods) + "\n")
        log.debug(
            "anti-spoofing rules for port %s on ofport %d: %d flows", port_id, ofport, len(flows)
        )

    def remove_port(self, port_id: str) -> None:
        self._ofctl("del-flows", self.target, f"cookie={port_cookie(port_id):#x}/-1")

    def port_flows(self, port_id: str) -> list[str]:
        """The installed flows of a port, as ``ovs-ofctl dump-flows`` prints them."""
        out = self._ofctl("dump-flows", self.target, f"cookie={port_cookie(port_id):#x}/-1")
        return [line.strip() for line in out.splitlines() if "cookie=" in line]
