"""``SiteAgentSettings``: everything the site agent reads from config, env and flags, grouped.

One frozen dataclass per component, each named for its TOML section and env prefix:

- ``[site_agent]``: :class:`AgentSettings`, the daemon, its API (TLS, login throttle) and
  the reconciler;
- ``[compute]``: ``drivers.compute.settings.LibvirtSettings``, given to ``LibvirtCompute``
  (and the capacity check's CPU and RAM ratios);
- ``[network]``: ``drivers.network.settings.NetworkSettings``, given to ``OvsNetwork``;
- ``[storage]``: ``drivers.storage.settings.LocalStorageSettings``, given to ``LocalStorage``
  (and the image catalog's import dir);
- ``[telemetry]``: :class:`TelemetrySettings`, for ``Telemetry`` and its ring;
- ``[hub]``: :class:`HubLinkSettings`, how this site works with the hub it joined.

Loaded once by the daemon with :func:`load_settings` (the TOML file, then
``ATOLL_<SECTION>_<KEY>``, then flags) and passed explicitly; each driver gets its group as
it is. Keys of the old flat ``[site_agent]`` table (and their ``ATOLL_SITE_AGENT_<KEY>``
variables) are still read at their new place, with a warning: :data:`MOVED`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from atoll.resources.compute import RestartPolicy
from atoll.settings import Loaded, Moved, load_groups
from atoll.site_agent.drivers.compute.settings import LibvirtSettings
from atoll.site_agent.drivers.network.settings import NetworkSettings
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings


@dataclass(frozen=True)
class AgentSettings:
    """``[site_agent]``: the daemon itself, its API, its reconciler."""

    data_dir: Path = Path("/var/lib/atoll/site-agent")  # store, hub link, storage, instances
    host: str = "127.0.0.1"  # where the local API listens
    port: int = 8471  # the local API and /metrics
    # the local API: HTTPS with both of these; plain HTTP off loopback only with insecure
    tls_cert_file: Path | None = None  # PEM certificate (chain) of the API
    tls_key_file: Path | None = None  # its PEM private key
    insecure: bool = False  # accept plain HTTP on a non-loopback host (warned at every start)
    site_name: str = "site"  # the name ids minted here are tagged with
    # real: libvirt, OVS and qcow2 as [compute], [network], [storage] say; fake: the
    # drivers' in-memory fakes (nothing runs: simulated sites for hub-scale tests)
    drivers: Literal["real", "fake"] = "real"
    token_ttl: float = 3600.0  # seconds a local token lives
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
    # seconds a connection may take to send a request's headers (from its opening or its
    # last answer: an idle keep-alive connection is closed then), and a JSON request body
    # (408 then); image uploads keep their own idle rule
    request_read_timeout: float = 60.0
    # with TLS: handshakes in progress at once, from one source (an IPv4 address, an IPv6
    # /64) and in all; a connection over either bound is closed as it is accepted, before
    # any TLS work (counted in atoll_tls_handshakes_refused_total, logged once a minute a
    # source); 0: no bound. A client that opens its pool at once has that many in progress
    # (aiohttp's and httpx's hold 100). A handshake not done in tls_handshake_timeout s is
    # closed
    tls_handshakes_per_source: int = 128
    tls_handshakes: int = 512
    tls_handshake_timeout: float = 10.0
    restart_policy: RestartPolicy = "on-failure"  # servers without one: always|on-failure|never
    restart_backoff_initial: float = 2.0  # seconds before the 2nd restart in a row, doubling
    restart_backoff_max: float = 300.0  # ... up to this many
    reconcile_interval: float = 5.0  # seconds between passes when nothing kicks one
    audit_interval: float = 300.0  # seconds between sweeps for orphans on the host

    @property
    def db_path(self) -> Path:
        return self.data_dir / "agent.db"

    @property
    def instances_dir(self) -> Path:
        return self.data_dir / "instances"


@dataclass(frozen=True)
class TelemetrySettings:
    """``[telemetry]``: how often samples are taken and how long they are kept."""

    interval: float = 10.0  # seconds between samples
    raw_retention: float = 3600.0  # raw samples kept this many seconds
    rollup_retention: float = 86400.0  # 1-minute averages kept this long
    alarm_interval: float = 30.0  # site-scope alarm rules are evaluated this often


@dataclass(frozen=True)
class HubLinkSettings:
    """``[hub]``: how this site works with its hub. Which hub, and the site's identity, come
    from joining it (``atoll site-agent join``: files under ``<data_dir>/hub/``)."""

    # retired: sites reach the hub by their certificate since joining exists; when set, the
    # agent warns at start and ignores them (hub_attachment.warn_retired)
    url: str = ""
    ca_file: Path | None = None
    token: str = field(default="", repr=False)
    user: str = ""
    password: str = field(default="", repr=False)
    advertise: bool = True  # while not joined, advertise _atoll-site._tcp by zeroconf
    image_poll_interval: float = 10.0  # seconds between asks for pending image transfers
    image_bandwidth_bps: int = 0  # per-site cap on image pulls, bytes/s (0: none)
    image_fetch_concurrency: int = 4  # chunks fetched at once
    # the hub's token revocations (until sync: polled, kept in the store; hub_revocations.py)
    revocation_poll_interval: float = 10.0
    # the sync session (site-agent/sync/), run once the site has joined (<data dir>/hub/)
    # reconnects: the first within this many seconds (jittered: a hub restart's reconnects
    # spread out), doubling up to the max (atoll.sync.backoff); once a hub has welcomed the
    # site, the first window is the one that hub asks for (its reconnect_spread: its sites
    # over the handshake rate it takes, 1 s for a small fleet)
    sync_reconnect_initial: float = 40.0
    sync_reconnect_max: float = 120.0
    sync_telemetry_interval: float = 60.0  # seconds between telemetry batches to the hub
    # deletes of objects this site made and the hub adopted are remembered, so a hub
    # restored from a backup taken before one hears of it again rather than placing the
    # object back (sync/PROTOCOL.md "History"): at most this many (the newest), each for
    # this many days; past either, such a restored hub puts the object back at the site
    sync_deletes_kept: int = 10000
    sync_deletes_kept_days: float = 90.0


@dataclass(frozen=True)
class SiteAgentSettings:
    """All of the agent's settings; ``storage.root`` defaults to ``<data_dir>/storage``."""

    site_agent: AgentSettings = field(default_factory=AgentSettings)
    compute: LibvirtSettings = field(default_factory=LibvirtSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    storage: LocalStorageSettings = field(default_factory=LocalStorageSettings)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)
    hub: HubLinkSettings = field(default_factory=HubLinkSettings)

    def __post_init__(self) -> None:
        if self.storage.root is None:
            root = self.site_agent.data_dir / "storage"
            object.__setattr__(self, "storage", dataclasses.replace(self.storage, root=root))


def _moved() -> dict[tuple[str, str], Moved]:
    renamed = {
        "libvirt_uri": Moved("compute", "uri"),
        "domain_prefix": Moved("compute", "name_prefix"),
        "stop_timeout": Moved("compute", "shutdown_timeout"),
        "storage_dir": Moved("storage", "root"),
        "storage_capacity_gb": Moved("storage", "capacity_gb"),
        "telemetry_interval": Moved("telemetry", "interval"),
        "telemetry_raw_retention": Moved("telemetry", "raw_retention"),
        "telemetry_rollup_retention": Moved("telemetry", "rollup_retention"),
        "hub_url": Moved("hub", "url"),
        "hub_ca_file": Moved("hub", "ca_file"),
        "hub_token": Moved("hub", "token"),
        "hub_user": Moved("hub", "user"),
        "hub_password": Moved("hub", "password"),
    }
    same_name = {
        "compute": ("virt_type", "start_libvirtd"),
        "network": (
            "ovsdb_remote",
            "integration_bridge",
            "physical_networks",
            "sriov_physical_networks",
            "device_prefix",
            "owner",
        ),
        "storage": ("image_cache_max_gb",),
        "hub": ("image_poll_interval", "image_bandwidth_bps", "image_fetch_concurrency"),
    }
    for section, keys in same_name.items():
        renamed.update({key: Moved(section, key) for key in keys})
    return {("site_agent", old): new for old, new in renamed.items()}


# Keys of the old flat [site_agent] table (as released) and where each lives now; settings
# added since were only ever in their own section.
MOVED: Mapping[tuple[str, str], Moved] = _moved()


def load_settings_with_sources(
    config_file: Path | None = None,
    flags: Mapping[str, Mapping[str, object]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Loaded[SiteAgentSettings]:
    return load_groups(
        SiteAgentSettings, config_file=config_file, env=env, flags=flags, moved=MOVED
    )


def load_settings(
    config_file: Path | None = None,
    flags: Mapping[str, Mapping[str, object]] | None = None,
    env: Mapping[str, str] | None = None,
) -> SiteAgentSettings:
    return load_settings_with_sources(config_file, flags, env).value


def describe(loaded: Loaded[SiteAgentSettings]) -> dict[str, dict[str, dict[str, object]]]:
    """Every setting by section: its value (secrets as ``***`` when set) and its source."""
    out: dict[str, dict[str, dict[str, object]]] = {}
    for group_field in dataclasses.fields(loaded.value):
        section = group_field.name
        group = getattr(loaded.value, section)
        rows: dict[str, dict[str, object]] = {}
        for f in dataclasses.fields(group):
            value: object = getattr(group, f.name)
            if not f.repr:
                value = "***" if value else ""
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            rows[f.name] = {"value": value, "source": loaded.source(section, f.name)}
        out[section] = rows
    return out


def render_toml(described: Mapping[str, Mapping[str, Mapping[str, object]]]) -> str:
    """:func:`describe`'s result as a TOML file, each line saying where its value came from."""
    lines: list[str] = []
    for section, rows in described.items():
        lines.append(f"[{section}]")
        for key, row in rows.items():
            value, source = row["value"], row["source"]
            if value is None:
                lines.append(f"# {key} is not set  # {source}")
            else:
                lines.append(f"{key} = {json.dumps(value)}  # {source}")
        lines.append("")
    return "\n".join(lines)
