"""Nobody holds the site agent's connections by sending a request slowly.

Before: the local API (aiohttp's defaults) kept a connection that sent part of a request's
headers, or nothing, for its keep-alive timeout (3630 s), and one whose JSON body stopped
coming for as long as the client stayed, no credential needed: the site's field engineers
and the hub's callers could be locked out by anyone on the site's network holding enough
of them (slowloris). Now, as at the hub (``test_slow_requests.py``), a connection must send
a request's headers within ``[site_agent] request_read_timeout``, or it is closed, and a
JSON body must arrive within as long, or the request is answered 408 and the connection
closed.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.daemons import RunningSite, running_site
from tests.security.test_slow_requests import held_for

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    work = Path(tmp_path_factory.mktemp("sec-site-slow"))
    settings = {"site_agent": {"request_read_timeout": TIMEOUT}}
    with running_site(work, settings, drivers="fake") as running:  # the API is under test
        yield running


def connect(site: RunningSite) -> socket.socket:
    url = urllib.parse.urlsplit(site.url)
    return socket.create_connection((url.hostname or "", url.port or 0), timeout=TIMEOUT * 4)


@pytest.mark.parametrize("sent", [
    b"",  # connected, nothing sent
    b"GET /v1/servers HTTP/1.1\r\nHost: site\r\n",  # headers begun, never ended
])  # fmt: skip
def test_a_connection_that_never_finishes_its_headers_is_closed(
    slow_site: RunningSite, sent: bytes
) -> None:
    with connect(slow_site) as conn:
        conn.sendall(sent)
        held, said = held_for(conn)
    assert held < TIMEOUT * 3, f"held {held:.1f} s"
    assert said == b"", said


def test_a_json_body_that_never_arrives_is_answered_408(slow_site: RunningSite) -> None:
    with connect(slow_site) as conn:
        conn.sendall(b"POST /v1/networks HTTP/1.1\r\nHost: site\r\n"
                     b"Authorization: Bearer " + slow_site.token.encode() + b"\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")  # fmt: skip
        held, said = held_for(conn)
    assert held < TIMEOUT * 3, f"held {held:.1f} s"
    assert said.startswith(b"HTTP/1.1 408"), said[:300]
    assert b"request_timeout" in said, said[:600]


def test_a_prompt_request_is_served(slow_site: RunningSite) -> None:
    assert slow_site.call("GET", "/v1/networks").status == 200
