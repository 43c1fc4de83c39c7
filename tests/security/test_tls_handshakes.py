"""Nobody holds the hub's or a site agent's TLS handshakes, or makes them spend handshake CPU
without bound, from one address.

Before: both daemons served TLS with asyncio's own listener, which starts a handshake on every
connection it accepts, with nothing to refuse one first, and waits 60 s for one that stalls.
200 connections from one address that never sent a byte were each kept for a minute (one of
the daemon's open files and a TLS object each, before ``request_read_timeout`` starts), and a
flood of ClientHellos was answered as fast as the CPU went. Now a connection is refused as it
is accepted, before any TLS work (no ServerHello), when its source has
``tls_handshakes_per_source`` handshakes in progress (128) or the daemon ``tls_handshakes``
(512); the refusals are counted (``atoll_tls_handshakes_refused_total``) and logged once a
minute a source; a handshake not done within ``tls_handshake_timeout`` (10 s) is closed; and
clients from elsewhere are served meanwhile.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from atoll import certs
from atoll.hub.settings import HubSettings
from atoll.site_agent.settings import AgentSettings
from atoll.testbed.services.ports import free_port
from atoll.testbed.services.process import reap, spawn
from tests.core.test_tls_gate import closed_within
from tests.hub.api.test_observability import promtool_check
from tests.security.daemons import ATOLL, Daemon, RunningHub, RunningSite, running_hub
from tests.security.test_site_bind import wait_health
from tests.site_agent import real_site

TIMEOUT = 3.0  # tls_handshake_timeout of the daemons here (10 s by default)
PER_SOURCE = HubSettings().tls_handshakes_per_source  # the default, 128, on both daemons
assert AgentSettings().tls_handshakes_per_source == PER_SOURCE
FLOOD = 200
ELSEWHERE = "127.0.0.9"  # another client's address


@dataclass
class Target:
    """A running daemon serving HTTPS, as an attacker and its other clients reach it."""

    daemon: Daemon
    port: int
    log: Callable[[], str]
    read: str  # a path its admin reads


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    config = f"[hub]\ntls_handshake_timeout = {TIMEOUT}\n"
    with running_hub(tmp_path_factory.mktemp("sec-tls-hub"), config=config) as running:
        yield running


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A site agent (drivers' fakes) serving its API over HTTPS with its own certificate."""
    work = tmp_path_factory.mktemp("sec-tls-site")
    ca = certs.new_ca("sec-tls test CA")
    leaf = certs.issue_server_cert(ca, "site", ["localhost"], [ipaddress.ip_address("127.0.0.1")])
    ca_file, cert_file, key_file = (work / n for n in ("ca.pem", "site.pem", "site-key.pem"))
    certs.write_pem(ca_file, ca.cert_pem())
    certs.write_pem(cert_file, leaf.cert_pem())
    certs.write_pem(key_file, leaf.key_pem(), private=True)
    listen = {"tls_cert_file": cert_file, "tls_key_file": key_file,
              "tls_handshake_timeout": TIMEOUT}  # fmt: skip
    settings = real_site.override(
        real_site.fake_settings_for(work / "agent"), {"site_agent": listen}
    )
    config = real_site.config_file(work / "agent.toml", settings)
    port, log = free_port(), work / "agent.log"
    argv = [str(ATOLL), "site-agent", "run", "--data-dir", str(work / "agent"),
            "--config", str(config), "--port", str(port)]  # fmt: skip
    proc = spawn(argv, log)
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
        url = f"https://localhost:{port}"
        wait_health(proc, url, log, context)
        secret = log.read_text().split("secret:", 1)[1].split()[0]
        site = Daemon(url, context, token="")
        login = {"name": "admin", "secret": secret}
        site.token = site.ok("POST", "/v1/auth/tokens", login, token="")["token"]
        yield Target(site, port, lambda: log.read_text(errors="replace"), "/v1/networks")
    finally:
        reap(proc, grace=20)


@pytest.fixture(params=["hub", "site agent"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "site agent":
        return request.getfixturevalue("tls_site")  # type: ignore[no-any-return]
    hub: RunningHub = request.getfixturevalue("hub")
    return Target(hub, int(hub.url.rsplit(":", 1)[1]), lambda: hub.log, "/v1/projects")


def connect(target: Target, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", target.port), TIMEOUT * 4, source_address=(source, 0)
    )


def client_hello(target: Target) -> bytes:
    """A real client's first flight (its ClientHello), to send by hand."""
    assert target.daemon.ssl_context is not None
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = target.daemon.ssl_context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def answer_to_hello(target: Target, source: str) -> bytes:
    """What the daemon sends a ClientHello from ``source`` within a second: a ServerHello
    (a TLS handshake record, ``16 03``), or nothing (refused before any TLS work)."""
    with connect(target, source) as sock:
        sock.sendall(client_hello(target))
        sock.settimeout(1.0)
        try:
            return sock.recv(5)
        except ConnectionError:
            return b""


def refusals_logged(target: Target) -> list[str]:
    return [line for line in target.log().splitlines() if "refusing TLS connections" in line]


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_a_flood_from_one_address_is_refused_before_tls_and_others_are_served(
    target: Target,
) -> None:
    logged = refusals_logged(target)
    socks = [connect(target) for _ in range(FLOOD)]
    try:
        refused = closed_within(socks, TIMEOUT / 2)  # at once: long before any timeout
        assert len(refused) == FLOOD - PER_SOURCE, len(refused)
        # meanwhile: a real client of that address is refused before its ServerHello...
        assert answer_to_hello(target, "127.0.0.1") == b""
        # ... and one from elsewhere gets its handshake and its answers, promptly
        assert answer_to_hello(target, ELSEWHERE).startswith(b"\x16\x03")
        started = time.monotonic()
        assert target.daemon.call("GET", "/healthz", token="", source=ELSEWHERE).status == 200
        assert target.daemon.call("GET", target.read, source=ELSEWHERE).status == 200
        assert time.monotonic() - started < 2.0
        held = [sock for sock in socks if sock not in refused]
        assert len(closed_within(held, TIMEOUT * 2)) == PER_SOURCE  # then their timeout
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.2)
    assert target.daemon.call("GET", "/healthz", token="").status == 200  # its turn again
    lines = refusals_logged(target)[len(logged) :]
    assert len(lines) == 1 and "from 127.0.0.1 before" in lines[0], lines  # not one a refusal
    page = target.daemon.call("GET", "/metrics")
    assert page.status == 200, page
    text = page.raw.decode()
    assert promtool_check(text).returncode == 0, promtool_check(text).stdout
    refusals = metric(text, 'atoll_tls_handshakes_refused_total{limit="per_source"}')
    assert refusals >= FLOOD - PER_SOURCE + 1
    assert metric(text, "atoll_tls_handshake_timeouts_total") >= PER_SOURCE
    assert metric(text, "atoll_tls_handshakes_in_progress") == 0


@pytest.mark.parametrize("sent", ["nothing", "half a ClientHello"])
def test_a_stalled_handshake_is_closed_after_the_timeout(target: Target, sent: str) -> None:
    hello = client_hello(target)
    with connect(target) as sock:
        if sent != "nothing":
            sock.sendall(hello[: len(hello) // 2])
        started = time.monotonic()
        assert closed_within([sock], TIMEOUT * 4) == [sock]
        held = time.monotonic() - started
    assert TIMEOUT * 0.8 < held < TIMEOUT * 2, f"held {held:.1f} s"


def test_sites_join_and_sync_over_mtls(hub: RunningHub, joined_site: RunningSite) -> None:
    """The gated listener gives the hub's handler the site's certificate: the agent's sync
    session comes up and what the hub places reaches it."""
    name = json.loads((joined_site.data_dir / "hub" / "link.json").read_text())["site_name"]
    member = hub.tenant("tls-project", "tls-member")
    hub.ok("POST", f"/v1/sites/{name}/networks", {"name": "tls-net", "spec": {}}, token=member)
    deadline = time.monotonic() + 60
    while True:
        online = hub.ok("GET", f"/v1/sites/{name}")["state"] == "online"
        names = [n["name"] for n in joined_site.ok("GET", "/v1/networks")["items"]]
        if online and "tls-net" in names:
            break
        assert time.monotonic() < deadline, (online, names)
        time.sleep(0.25)
