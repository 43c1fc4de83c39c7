"""Nobody, signed in or not, holds the hub's connections by sending a request slowly.

Before: the hub kept a connection that sent part of a request's headers, or none at all,
for aiohttp's keep-alive timeout (3630 s), and a JSON request whose body stopped coming for
as long as its client stayed (``POST /v1/auth/tokens`` with ``Content-Length: 1000`` and
one byte: held 70 s and counting, no token needed). Each held connection is one of the hub's
open files and its TLS buffers: enough of them from anywhere on the network, and the hub
accepts no site's sync session and no login (slowloris). Now a connection must send a
request's headers within ``[hub] request_read_timeout`` of opening (or of its last answer),
or it is closed, and a JSON body must arrive within as long, or the request is answered
408 and the connection closed. Uploads keep their own rule (``upload_idle_timeout``:
``test_upload_idle.py``) and a live stream, once asked for, is not cut.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.daemons import RunningHub, running_hub

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    config = f"[hub]\nrequest_read_timeout = {TIMEOUT}\n"
    with running_hub(Path(tmp_path_factory.mktemp("sec-slow")), config=config) as running:
        yield running


def connect(hub: RunningHub) -> ssl.SSLSocket:
    url = urllib.parse.urlsplit(hub.url)
    raw = socket.create_connection((url.hostname or "", url.port or 0), timeout=TIMEOUT * 4)
    assert hub.ssl_context is not None
    return hub.ssl_context.wrap_socket(raw, server_hostname=url.hostname)


def held_for(conn: socket.socket) -> tuple[float, bytes]:
    """How long the daemon kept ``conn`` before it answered or closed it, and what it said
    (the site agent's test uses it too)."""
    started, said = time.monotonic(), b""
    try:
        while chunk := conn.recv(4096):
            said += chunk
    except (TimeoutError, ConnectionError, ssl.SSLError):
        pass
    return time.monotonic() - started, said


@pytest.mark.parametrize("sent", [
    b"",  # connected, nothing sent
    b"GET /v1/projects HTTP/1.1\r\nHost: hub\r\n",  # headers begun, never ended
])  # fmt: skip
def test_a_connection_that_never_finishes_its_headers_is_closed(
    hub: RunningHub, sent: bytes
) -> None:
    with connect(hub) as conn:
        conn.sendall(sent)
        held, said = held_for(conn)
    assert held < TIMEOUT * 3, f"held {held:.1f} s"
    assert said == b"", said


def test_a_json_body_that_never_arrives_is_answered_408(hub: RunningHub) -> None:
    with connect(hub) as conn:
        conn.sendall(b"POST /v1/auth/tokens HTTP/1.1\r\nHost: hub\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")  # fmt: skip
        held, said = held_for(conn)
    assert held < TIMEOUT * 3, f"held {held:.1f} s"
    assert said.startswith(b"HTTP/1.1 408"), said[:300]


def test_a_keep_alive_connection_serves_requests_within_the_timeout(
    hub: RunningHub,
) -> None:
    url = urllib.parse.urlsplit(hub.url)
    conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=hub.ssl_context,
                                       timeout=10)  # fmt: skip
    try:
        for _ in range(2):  # the keep-alive connection serves a second request
            conn.request("GET", "/v1/sites", headers={"Authorization": f"Bearer {hub.token}"})
            answer = conn.getresponse()
            assert answer.status == 200, answer.read(300)
            answer.read()
            time.sleep(TIMEOUT / 2)
    finally:
        conn.close()
