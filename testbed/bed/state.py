"""What a testbed made, in ``<dir>/testbed.json``, and how everything it makes is named.

Every name carries the testbed's **tag** (6 hex digits) so that :mod:`.teardown` finds what
the testbed made by name even if the testbed process was killed before it wrote the record:

- network namespaces ``atoll-<tag>-s<i>`` (a site), ``atoll-<tag>-host`` (a name for the
  host's own namespace, where libvirt guests and their taps live);
- host links ``at-<tag>-w`` (the WAN bridge), ``at-<tag>-h<i>`` (a site's WAN veth, host end),
  ``at-<tag>-l<i>`` (a real site's LAN uplink, whose other end is in ``atoll-<tag>-l<i>``, a
  client on the site's LAN at ``10.<64+i>.0.250``);
- libvirt domains ``atoll-<tag>-s<i>-...``; OVS bridges ``br<tag>s<i>``; the private OVS
  under ``<dir>/ovs``;
- processes (hub, agents, OVS) by their command lines, which all name ``<dir>``.

The WAN is ``10.<a>.<b>.0/24`` picked from the tag: the hub at ``.1``, site i at ``.(10+i)``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atoll.errors import NotFound

RECORD = "testbed.json"
HUB_PORT = 8470
SITE_PORT = 8471


@dataclass
class SiteState:
    name: str
    index: int
    netns: str
    host_link: str  # the WAN veth's host end (partition: down)
    ip: str
    drivers: str  # real | fake
    data_dir: str
    config: str
    pid: int | None = None
    secret: str | None = None  # the agent's local admin credential (printed at first start)
    netem: str = ""  # the WAN degradation in force ("" for none)

    @property
    def lan_netns(self) -> str:
        """A client on the site's LAN (real sites): the provider network ``lan`` ends there."""
        return self.netns.replace("-s", "-l", 1)

    @property
    def lan_uplink(self) -> str:
        """The LAN's uplink as the site's OVS sees it (``physical_networks = lan:<this>``)."""
        return self.host_link.replace("-h", "-l", 1)

    @property
    def lan_cidr(self) -> str:
        return f"10.{64 + self.index}.0.0/24"

    @property
    def lan_client_ip(self) -> str:
        return f"10.{64 + self.index}.0.250"

    @property
    def url(self) -> str:
        return f"https://{self.ip}:{SITE_PORT}"

    @property
    def domain_prefix(self) -> str:
        return f"{self.netns}-"


@dataclass
class BedState:
    dir: str
    tag: str
    wan_bridge: str
    wan_prefix: str  # "10.a.b"
    host_netns: str
    admin_password: str
    hub_pid: int | None = None
    sites: list[SiteState] = field(default_factory=list)
    simulated: int = 0  # simulated sites (testbed/simulated.py), held by one process
    simulator_pid: int | None = None

    @classmethod
    def new(cls, directory: Path) -> BedState:
        tag = secrets.token_hex(3)
        n = int(tag, 16)
        return cls(
            dir=str(directory.resolve()),
            tag=tag,
            wan_bridge=f"at-{tag}-w",
            wan_prefix=f"10.{100 + n % 100}.{(n // 100) % 256}",
            host_netns=f"atoll-{tag}-host",
            admin_password="tb-" + secrets.token_urlsafe(12),
        )

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def hub_ip(self) -> str:
        return f"{self.wan_prefix}.1"

    @property
    def hub_url(self) -> str:
        return f"https://{self.hub_ip}:{HUB_PORT}"

    @property
    def hub_data(self) -> Path:
        return self.path / "hub"

    @property
    def ca_file(self) -> Path:
        """The testbed's CA: it signs the site agents' API certificates."""
        return self.path / "ca" / "ca.pem"

    @property
    def ovs_dir(self) -> Path:
        return self.path / "ovs"

    @property
    def env(self) -> dict[str, str]:
        """What a person's shell needs to use this testbed's hub (``env.sh`` says the same)."""
        return {"XDG_CONFIG_HOME": str(self.path / "config")}

    def site(self, name: str) -> SiteState:
        for site in self.sites:
            if site.name == name:
                return site
        known = ", ".join(s.name for s in self.sites) or "none"
        raise NotFound(f"no site {name!r} in the testbed at {self.dir} (sites: {known})")

    def save(self) -> None:
        tmp = self.path / (RECORD + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds secrets
        with os.fdopen(fd, "w") as fh:
            json.dump(dataclasses.asdict(self), fh, indent=2)
        tmp.replace(self.path / RECORD)

    @classmethod
    def load(cls, directory: Path) -> BedState:
        path = directory / RECORD
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotFound(
                f"no testbed at {directory} (no {RECORD}); run `atoll testbed up`"
            ) from None
        sites = [SiteState(**s) for s in data.pop("sites", [])]
        return cls(**data, sites=sites)
