"""``SiteAgentSettings``: everything the site agent reads from config, env and flags.

Loaded once by the daemon with ``atoll.settings.load(SiteAgentSettings, "site_agent", ...)``
(TOML ``[site_agent]`` table, then ``ATOLL_SITE_AGENT_<FIELD>``, then flags) and passed
explicitly to whatever needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from atoll.errors import ConfigError
from atoll.settings import load

SECTION = "site_agent"

VirtType = Literal["auto", "kvm", "qemu"]
RestartPolicy = Literal["always", "on-failure", "never"]


@dataclass(frozen=True)
class SiteAgentSettings:
    data_dir: Path = Path("/var/lib/atoll/site-agent")
    host: str = "127.0.0.1"
    port: int = 8471
    # the local API: HTTPS with both of these; plain HTTP off loopback only with insecure
    tls_cert_file: Path | None = None  # PEM certificate (chain) of the API
    tls_key_file: Path | None = None  # its PEM private key
    insecure: bool = False  # accept plain HTTP on a non-loopback host (warned at every start)
    site_name: str = "site"
    # compute
    virt_type: VirtType = "auto"
    libvirt_uri: str = "qemu:///system"
    domain_prefix: str = "atoll-"  # libvirt domains are <prefix><server id>
    stop_timeout: float = 30.0  # graceful shutdown, then forced
    start_libvirtd: bool = True  # start virtlogd + libvirtd when they are not running
    # network
    ovsdb_remote: str = "unix:/run/openvswitch/db.sock"
    integration_bridge: str = "br-int"
    # "physnet1:eth1,physnet2:eth2": physical network name -> uplink interface
    physical_networks: tuple[str, ...] = ()
    sriov_physical_networks: tuple[str, ...] = ()  # "physnet:pf_interface"
    device_prefix: str = "at-"  # host taps are <prefix><port id>, 15 bytes at most
    owner: str = "atoll"  # external_ids:atoll-owner on everything the agent makes in OVS
    # storage: images/, disks/, volumes/, snapshots/ under the storage dir
    storage_dir: Path | None = None  # default: <data_dir>/storage
    storage_capacity_gb: float = 0.0  # 0: the size of the filesystem
    image_cache_max_gb: float = 20.0  # cap for the image cache (LRU eviction of unpinned)
    # POST /v1/images {"id", "file", "sha256"} copies the named file from here (None: off)
    image_import_dir: Path | None = None
    # capacity: a server is refused at the API when it does not fit (as Nova's placement)
    cpu_allocation_ratio: float = 4.0  # vCPUs per host CPU
    ram_allocation_ratio: float = 1.0  # of the host's RAM less reserved_host_memory_mb
    disk_allocation_ratio: float = 1.0  # virtual disk sizes per byte of storage (thin)
    reserved_host_memory_mb: int = 512  # kept for the host and the agent
    # telemetry
    telemetry_interval: float = 10.0
    telemetry_raw_retention: float = 3600.0  # raw samples kept this many seconds
    telemetry_rollup_retention: float = 86400.0  # 1-minute averages kept this long
    # reconciler
    restart_policy: RestartPolicy = "on-failure"
    restart_backoff_initial: float = 2.0
    restart_backoff_max: float = 300.0
    reconcile_interval: float = 5.0
    audit_interval: float = 300.0
    # auth
    token_ttl: float = 3600.0
    metrics_auth: bool = False  # /metrics open to scrapers on the management network
    # the local credential's argon2 checks run in a pool of their own: this many threads,
    # this many waiting at most (beyond that: 429 with Retry-After at once)
    password_workers: int = 1
    password_queue: int = 4
    # failed logins from one address within the window: beyond per_source it is refused
    # for every credential, beyond per_source_user for that one (429 + Retry-After); never
    # a lockout: the right secret from another address works
    login_failures_per_source: int = 20
    login_failures_per_source_user: int = 5
    login_failure_window: float = 60.0
    login_refusal_delay: float = 1.0  # a refused address waits this long for its 429
    # images from the hub (until sync: the agent polls the hub; see hub_images.py)
    hub_url: str = ""  # https://hub:8470; empty: no pulls from a hub
    hub_ca_file: Path | None = None  # the hub's ca.pem
    hub_token: str = field(default="", repr=False)  # a token, or hub_user + hub_password
    hub_user: str = ""  # a hub user with a system role (member: pull and report)
    hub_password: str = field(default="", repr=False)
    image_poll_interval: float = 10.0  # seconds between asks for pending image transfers
    image_bandwidth_bps: int = 0  # per-site cap on image pulls, bytes/s (0: none)
    image_fetch_concurrency: int = 4
    # the hub's token revocations (until sync: polled, kept in the store; hub_revocations.py)
    revocation_poll_interval: float = 10.0

    @property
    def db_path(self) -> Path:
        return self.data_dir / "agent.db"

    @property
    def storage_root(self) -> Path:
        return self.storage_dir or self.data_dir / "storage"

    @property
    def instances_dir(self) -> Path:
        return self.data_dir / "instances"

    def physnet_map(self) -> dict[str, str]:
        """``physical_networks`` as a mapping; a bad entry raises ConfigError."""

        out: dict[str, str] = {}
        for item in self.physical_networks:
            name, sep, iface = item.partition(":")
            if not sep or not name or not iface:
                raise ConfigError(f"[{SECTION}].physical_networks: {item!r} is not NAME:INTERFACE")
            out[name] = iface
        return out


def load_settings(
    config_file: Path | None = None, flags: dict[str, object] | None = None
) -> SiteAgentSettings:
    return load(SiteAgentSettings, SECTION, config_file=config_file, flags=flags)
