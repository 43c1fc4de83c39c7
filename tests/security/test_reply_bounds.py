"""What a server a tenant names can make the hub read: a short reply, no more.

A project member names servers the hub calls: an LCM subscription's callback (a GET at
creation, then every notification) and its OAuth 2.0 token endpoint, an alarm webhook. Every
such call read the whole reply into memory, however long, until the call's timeout: a
callback answering its test GET with an endless body held about a gigabyte of the hub's
memory per second, per subscription created, and a reply of ``[`` x 30,000 was a
``RecursionError`` in the JSON parser, which the tenant got back as a 500.

Now a reply is read up to a bound (64 KiB from servers a tenant names, 64 MiB elsewhere) and
the connection is closed past it, and a reply nesting deeper than the parser goes is "not
JSON", as any other body that is not: here, the callback failed its test, a 4xx naming why.
"""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.daemons import RunningHub, http_server, running_hub

SUBSCRIPTIONS = "/vnflcm/v2/subscriptions"
V2 = {"Version": "2.0.0"}
CONFIG = """[hub]
lcm_callback_loopback = true   # the tenant's server is on this machine
"""
ENDLESS = 256 * 1024 * 1024  # what the endless reply would send, if it were all read
BLOCK = 64 * 1024


class _Hostile(http.server.BaseHTTPRequestHandler):
    """``/deep``: 200 with JSON nested 30,000 deep; ``/endless``: 200 with a body that goes
    on (no length), counting what the hub took before it hung up; ``/declared``: 200 that
    declares a terabyte."""

    protocol_version = "HTTP/1.1"
    sent: dict[str, int] = {}
    done = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/deep":
            body = b"[" * 30_000 + b"]" * 30_000  # under the bound, past the parser
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.path == "/declared":
            self.send_header("Content-Length", str(10**12))
        self.send_header("Connection", "close")
        self.end_headers()
        sent, block = 0, b"0" * BLOCK
        try:
            while sent < ENDLESS:
                self.wfile.write(block)
                sent += BLOCK
        except OSError:
            pass  # the hub hung up
        finally:
            self.sent[self.path] = sent
            self.close_connection = True

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except ConnectionError:
            self.close_connection = True  # the hub hung up between requests

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[int, dict[str, int]]]:
    with http_server(_Hostile) as port:
        yield port, _Hostile.sent


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub(Path(tmp_path_factory.mktemp("sec-replies")), config=CONFIG) as running:
        yield running


def _subscribe(hub: RunningHub, port: int, path: str) -> tuple[int, str]:
    tag = secrets.token_hex(3)
    token = hub.tenant(f"rb-{tag}", f"rb-user-{tag}")
    body = {"callbackUri": f"http://127.0.0.1:{port}{path}"}
    reply = hub.call("POST", SUBSCRIPTIONS, body, token=token, headers=V2)
    return reply.status, reply.message


def test_a_callback_answering_json_nested_too_deep_fails_its_test_not_the_hub(
    hub: RunningHub, hostile: tuple[int, dict[str, int]]
) -> None:
    status, message = _subscribe(hub, hostile[0], "/deep")
    assert 400 <= status < 500, (status, message)
    assert "GET answered 200, not 204" in message
    assert "Traceback" not in hub.log


@pytest.mark.parametrize("path", ["/endless", "/declared"])
def test_the_hub_reads_a_short_reply_of_a_callback_and_hangs_up_on_a_long_one(
    hub: RunningHub, hostile: tuple[int, dict[str, int]], path: str
) -> None:
    port, sent = hostile
    status, message = _subscribe(hub, port, path)
    assert 400 <= status < 500, (status, message)
    assert "more than 65536 bytes" in message, message
    # what the server got into the socket before the hub closed it: the bound and the
    # kernel's buffers, not the 256 MiB it had to send
    for _ in range(100):
        if path in sent:
            break
        threading.Event().wait(0.1)
    assert sent[path] < 32 * 1024 * 1024, sent[path]
