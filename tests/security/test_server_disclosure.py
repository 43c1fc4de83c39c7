"""Neither daemon tells an unauthenticated caller what software, at what version, it runs.

Before: every answer of the hub and of the site agent carried aiohttp's ``Server: Python/3.x
aiohttp/x.y.z`` (the 400 aiohttp itself sends for a request it cannot parse too), and the
public ``/healthz`` answered with Atoll's version: a scanner learnt, with no credential, which
published vulnerabilities to try. Now the ``Server`` header names no software version on any
answer, and ``/healthz`` (still public: load balancers call it) says only that the process
answers.
"""

from __future__ import annotations

import re
import socket
import urllib.parse

import pytest

from tests.security.daemons import Daemon, Reply, RunningHub, RunningSite
from tests.security.test_slow_requests import held_for

REVEALING = re.compile(r"python|aiohttp|\d", re.IGNORECASE)


def _raw(daemon: Daemon, request: bytes) -> bytes:
    """``request`` sent as it is (no HTTP client would send it so); the answer's head."""
    url = urllib.parse.urlsplit(daemon.url)
    conn: socket.socket = socket.create_connection((url.hostname or "", url.port or 0), 10)
    if daemon.ssl_context is not None:
        conn = daemon.ssl_context.wrap_socket(conn, server_hostname=url.hostname)
    with conn:
        conn.sendall(request)
        _, said = held_for(conn)
    return said.split(b"\r\n\r\n", 1)[0]


def _server_headers(head: bytes) -> list[str]:
    lines = head.decode(errors="replace").split("\r\n")[1:]
    return [v.strip() for k, _, v in (line.partition(":") for line in lines)
            if k.strip().lower() == "server"]  # fmt: skip


def _answers(daemon: Daemon) -> list[tuple[str, Reply]]:
    return [
        ("/healthz", daemon.call("GET", "/healthz", token="")),
        ("no token", daemon.call("GET", "/v1/servers", token="")),
        ("not found", daemon.call("GET", "/v1/no-such-thing", token="")),
        ("authenticated", daemon.call("GET", "/readyz")),
    ]


def _check(daemon: Daemon) -> None:
    for what, answer in _answers(daemon):
        server = answer.headers.get("Server")
        assert server is None or not REVEALING.search(server), (what, server)
    # what aiohttp answers itself, before any route or middleware sees the request
    for request in (b"HZ / HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"):
        head = _raw(daemon, request)
        assert head.startswith(b"HTTP/1."), head
        for server in _server_headers(head):
            assert not REVEALING.search(server), (request, head)


def test_the_hub_names_no_software_version(hub: RunningHub) -> None:
    _check(hub)
    problem = hub.call("GET", "/vnfpkgm/v1/vnf_packages", token="")  # a SOL005 error
    assert problem.status == 401 and not REVEALING.search(problem.headers.get("Server", ""))


def test_the_site_agent_names_no_software_version(api_site: RunningSite) -> None:
    _check(api_site)


@pytest.mark.parametrize("which", ["hub", "api_site"])
def test_healthz_is_public_and_gives_no_version(which: str, request: pytest.FixtureRequest) -> None:
    daemon: Daemon = request.getfixturevalue(which)
    answer = daemon.call("GET", "/healthz", token="")
    assert answer.status == 200 and answer.body == {"status": "ok"}, answer
