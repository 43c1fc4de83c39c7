"""The hub's typed settings (``[hub]`` in the TOML file, ``ATOLL_HUB_*``, then flags)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_PORT = 8470
CA_CERT_FILE = "ca.pem"  # in the data dir: the hub CA (hub.bootstrap.DataDir lays it out)
CA_KEY_FILE = "ca-key.pem"


@dataclass(frozen=True)
class HubSettings:
    data_dir: Path = Path("/var/lib/atoll/hub")  # keys, CA, SQLite store, images, packages
    host: str = "0.0.0.0"  # noqa: S104 (the hub serves sites on other machines; TLS + tokens)
    port: int = DEFAULT_PORT  # API, sync, /metrics and /docs, all on one port
    store: str = "sqlite"  # sqlite | memory | etcd://host:port[,host:port...]
    insecure_http: bool = False  # plain HTTP, refused unless host is a loopback address
    token_ttl: int = 3600  # seconds a token issued by password or app credential lives
    max_body_bytes: int = 1024 * 1024  # a JSON request body, at most
    # a VNF package upload (streamed to data_dir), and the CSAR a zip delivering a signed CSAR
    # (SOL004 security option 2) unpacks beside it
    max_vnf_package_bytes: int = 8 * 1024**3
    # hosts POST .../vnf_packages/{id}/package_content/upload_from_uri may fetch from (the
    # hub's reach is the caller's then): host (its scheme's port, 80/443), host:port, host:*
    # (any port: a tenant learns which answer); none: that route is refused (403)
    vnf_package_uri_hosts: tuple[str, ...] = ()
    # SOL004 package security, checked against vnf_package_trust_anchors at onboarding
    # (option 1: the manifest signed with CMS; option 2: the CSAR signed, in a zip with its
    # signature; and signed artifacts): verify-if-signed refuses a package with a signature
    # that does not verify and onboards an unsigned one; required refuses a package signed
    # neither way too; off reads no signature
    vnf_package_signature: Literal["verify-if-signed", "required", "off"] = "verify-if-signed"
    # a PEM bundle of the CA certificates a VNF package's signer must chain to, read when the
    # hub starts and again when it changes; none: every signed package is refused (unless
    # vnf_package_signature = off)
    vnf_package_trust_anchors: Path | None = None
    # a PEM file of CRLs every certificate of a signer's chain is checked against (a CRL of
    # each CA of the chain must be there, current), read when the hub starts and again when
    # it changes; none: revocation is not checked
    vnf_package_crls: Path | None = None
    nfv_page_size: int = 100  # items per page of the ETSI NFV lists (SOL013 Link paging)
    upload_idle_timeout: float = 60.0  # seconds without a byte before an upload is aborted
    # seconds a connection may take to send a request's headers (from its opening or its
    # last answer: an idle keep-alive connection is closed then), and a JSON request body
    # (408 then); uploads follow upload_idle_timeout, and an open stream is not cut
    request_read_timeout: float = 60.0
    # TLS handshakes in progress at once, from one source (an IPv4 address, an IPv6 /64) and
    # in all: a connection over either bound is closed as it is accepted, before any TLS
    # work (counted in atoll_tls_handshakes_refused_total, logged once a minute a source);
    # 0: no bound. A client that opens its pool at once has that many in progress (aiohttp's
    # and httpx's pools hold 100). A handshake not done in tls_handshake_timeout s is closed
    tls_handshakes_per_source: int = 128
    tls_handshakes: int = 512
    tls_handshake_timeout: float = 10.0
    # argon2id cost; the defaults are argon2-cffi's (RFC 9106 low-memory profile)
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    password_parallelism: int = 4
    # argon2 runs in a pool of its own: this many threads, this many hashes waiting at most
    # (beyond that: 429 with Retry-After at once)
    password_workers: int = 2
    password_queue: int = 8
    # failed logins (password, application credential) from one address within the window:
    # beyond per_source it is refused for every account, beyond per_source_user for that one
    # (429 + Retry-After); never an account lockout, the right password from elsewhere works
    login_failures_per_source: int = 20
    login_failures_per_source_user: int = 5
    login_failure_window: float = 60.0
    login_refusal_delay: float = 1.0  # a refused address waits this long for its 429
    # /metrics needs a system-scoped token; false: open to scrapers (a management network)
    metrics_auth: bool = True
    # LCM notifications (/vnflcm/v2/subscriptions): a subscriber is POSTed each notification
    # in order, waiting up to lcm_callback_timeout seconds; one that fails is tried again
    # after a backoff growing to lcm_callback_max_backoff seconds (one that answers in
    # lcm_callback_slow seconds or more waits as long for its next notification), and gets
    # what it missed while notifications are younger than lcm_notification_retention
    # seconds; a callback that answers 4xx is given up for that notification after
    # lcm_callback_attempts tries. Subscribers are called independently of each other:
    # lcm_delivery_concurrency at once, at most lcm_delivery_project_share of them one
    # project's. Callbacks to loopback, link-local or unspecified addresses are refused
    # unless lcm_callback_loopback (a lab or test on one machine); see SECURITY.md.
    lcm_delivery_interval: float = 1.0
    lcm_callback_timeout: float = 10.0
    lcm_callback_slow: float = 2.0
    lcm_callback_max_backoff: float = 300.0
    lcm_callback_attempts: int = 5
    lcm_notification_retention: float = 7 * 86400.0
    lcm_delivery_concurrency: int = 32
    lcm_delivery_project_share: int = 8
    lcm_callback_loopback: bool = False
    # sites: what a join code names as the hub's address (default: https://<this host>:<port>,
    # see advertised_url), how long a site certificate lives (it renews at 2/3), and whether
    # the hub advertises itself by zeroconf (_atoll-hub._tcp) while it serves
    public_url: str = ""
    site_cert_days: int = 90
    # renewals of one site's certificate (POST /v1/sync/renew) in any hour, at most, counted
    # in the site's record (every hub on one store counts the same ones); one more is a 429
    # with Retry-After. A site renews at 2/3 of site_cert_days and retries a failed renewal
    # after 30 s, then less often: 6 leaves room for a few lost replies. 0: no limit
    site_renewals_per_hour: int = 6
    zeroconf: bool = True
    keystone_region: str = "RegionOne"  # the region the Keystone facade's catalog names
    # sync (``GET /v1/sync``): the site pings every heartbeat interval; a session silent for
    # dead_after seconds is closed and its site goes offline; at most window unacked data
    # frames per site; frames up to max_frame bytes; live changes queued per site before it
    # falls back to reading the store's history
    sync_heartbeat_interval: float = 10.0
    sync_dead_after: float = 40.0
    sync_window: int = 8
    sync_max_frame: int = 1024 * 1024
    sync_queue: int = 1000
    # reconnects per second the hub asks its sites to spread over after a restart (each is
    # an mTLS handshake): the welcome's reconnect_spread is sessions / rate, at least 1 s
    sync_reconnect_rate: float = 250.0
    # anti-entropy (protocol version 2): a digest check of each idle site this often; 0: off
    sync_digest_interval: float = 300.0
    # requests the hub makes of a site over its session (protocol version 3: a server's
    # console log, POST /v1/sites/{site}/servers/{id}/console): the API waits this many
    # seconds for the site's reply, then answers 504
    sync_request_timeout: float = 15.0
    # events a site keeps at the hub (/v1/sites/{site}/events): beyond it, its oldest go
    site_event_limit: int = 1000
    # operation records a site keeps at the hub (/v1/sites/{site}/operations): beyond it,
    # its oldest go (what they did to the objects stays)
    site_operation_limit: int = 1000
    # objects a site made (offline, at its local API) that the hub adopts from it; what the
    # hub placed there does not count: beyond it, a create is refused (a refused_fact event)
    # and the object stays the site's alone. A large edge host runs a few hundred servers,
    # each with ports and volumes, on its networks: a couple of thousand objects; 5000
    # leaves room for that and bounds what a compromised or buggy site makes the hub keep
    site_object_limit: int = 5000
    # fleet telemetry (atoll.hub.telemetry): how long the sites' metric points are kept
    # (seconds; <data dir>/telemetry.sqlite, outside the revisioned store). A series keeps
    # one point a minute (a point off the minute is left out, a refused_fact event), so at
    # most (retention + 1 day) / 60 points: 11,520 at a week
    telemetry_retention: float = 7 * 86400.0
    # series (distinct metric name and labels) a site keeps in the fleet telemetry within
    # the retention: the points of new series beyond it are refused (a refused_fact event),
    # its series go on. An agent sends about 33 a server (2 vNICs, 2 disks, their OVS
    # ports) and 25 of its host: 3,300 for 100 servers; a server replaced is new series
    # until the retention drops the old. 0: no limit
    site_series_limit: int = 50000
    # alarms (atoll.hub.alarms): hub-scope rules are evaluated this often (seconds); a
    # series whose newest point is older than alarm_freshness has no data; a webhook is
    # tried at most alarm_webhook_attempts times (timeout alarm_webhook_timeout seconds
    # each), one answering in alarm_webhook_slow seconds or more is backed off; webhooks are
    # called independently, alarm_webhook_concurrency at once, at most
    # alarm_webhook_project_share of them one project's
    alarm_interval: float = 60.0
    alarm_freshness: float = 300.0
    alarm_webhook_attempts: int = 3
    alarm_webhook_timeout: float = 10.0
    alarm_webhook_slow: float = 2.0
    alarm_webhook_concurrency: int = 16
    alarm_webhook_project_share: int = 4
    # webhooks to loopback, link-local or unspecified addresses are refused (as LCM
    # callbacks are: atoll.hub.lcm.callbacks.check_address) unless this is true (a lab)
    alarm_webhook_loopback: bool = False
    # live update streams (/ui/events) one user may hold open at once (a browser tab needs
    # one); one more is refused with 429 until one of theirs ends. 0: no limit
    dashboard_streams_per_user: int = 8
    # a user's tokens revoked one by one (sign-out, DELETE of a token) kept as records until
    # they expire; one more revokes every token the user was issued until then (one record)
    # in their place, so the user logs in again. 0: no limit
    token_revocations_per_user: int = 100
    # LCM subscriptions and alarms one project may hold, application credentials one user
    # may hold (atoll.hub.identity.limits)
    lcm_subscription_limit: int = 100
    alarm_limit: int = 200
    app_credential_limit: int = 100
    # records one project may hold: images, VNF packages, VNF instances, and the objects
    # (servers, networks, subnets, volumes) it places at one site; one more is refused with
    # 403 over_limit (as Glance's image_count_total, Nova's and Neutron's quotas)
    image_limit: int = 1000
    vnf_package_limit: int = 200
    vnf_instance_limit: int = 500
    site_placement_limit: int = 1000
    # networks one project may place at one site (Neutron's network quota; each takes one of
    # the 4094 local VLAN tags of the site's integration bridge, shared by every project)
    site_network_limit: int = 100
    # bytes one project may hold at the hub, each limit on its own: image_bytes_limit of
    # image data (its uploaded images, public ones too, with what its uploads in progress
    # have received so far), vnf_package_bytes_limit of VNF package content. An upload past
    # either is refused with 403 over_limit, before it is read when its Content-Length says
    # so, else while it streams (atoll.hub.identity.limits). 0: no limit
    image_bytes_limit: int = 1024**4
    vnf_package_bytes_limit: int = 256 * 1024**3
    # image uploads one project may have in progress at once; one more is refused with 429
    # until one of them ends. 0: no limit
    image_uploads_per_project: int = 4
    # VNF package content uploads (PUT .../package_content, and the fetches of
    # .../upload_from_uri) one project may have in progress at once; one more is refused with
    # 429 (a ProblemDetails with Retry-After) until one of them ends. 0: no limit
    vnf_package_uploads_per_project: int = 4
    # VNF lifecycle (/vnflcm/v2): how many sites one operation works on at once (0: all);
    # whether a failure at one site stops the sites not started yet (a request's
    # additionalParams maxParallel / stopOnFailure override both); how long a site may take,
    # offline time included, before the operation goes FAILED_TEMP (siteTimeout overrides);
    # how often the engine reads the facts sites sent back
    lcm_max_parallel: int = 0
    lcm_stop_on_failure: bool = False
    lcm_site_timeout: float = 1800.0
    lcm_poll_interval: float = 1.0

    @property
    def ca_cert(self) -> Path:
        return self.data_dir / CA_CERT_FILE

    @property
    def ca_key(self) -> Path:
        return self.data_dir / CA_KEY_FILE

    def advertised_url(self) -> str:
        """``public_url``, or ``https://<host>:<port>`` (this machine's name when the hub
        listens on every address): what join codes carry."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 (comparing, not binding)
            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        scheme = "http" if self.insecure_http else "https"
        return f"{scheme}://{host}:{self.port}"
