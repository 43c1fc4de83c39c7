"""What the running hub tells the servers a tenant names about itself: its product, no more.

A tenant names places the hub sends requests to: an LCM subscription's callback (tested at
creation), a VNF package's URI (``upload_from_uri``, from a host the operator lists). Before
the fix each request carried aiohttp's own ``User-Agent: Python/3.11 aiohttp/3.9.5``: the
exact Python and aiohttp the hub runs, and so which of their advisories apply to it, to a
server the tenant reads the logs of. Now every request of Atoll's one client core says
``atoll`` alone, whichever aiohttp session or urllib opener sends it.
"""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.daemons import RunningHub, http_server, running_hub

CONFIG = """[hub]
lcm_callback_loopback = true   # the tenant's receiver is on this machine
vnf_package_uri_hosts = ["127.0.0.1:*"]
"""
PRODUCT = "atoll"  # atoll.client.transport.USER_AGENT


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET 204 and POST 204, keeping each request's path and User-Agent."""

    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("User-Agent", "")))
        self.send_response(204)
        self.end_headers()

    def do_POST(self) -> None:
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    with http_server(_Recorder) as port:
        yield port, _Recorder.seen


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub(Path(tmp_path_factory.mktemp("ua-hub")), config=CONFIG) as running:
        yield running


def agents(seen: list[tuple[str, str]], path: str) -> set[str]:
    return {agent for at, agent in seen if at == path}


def test_a_callback_hears_the_product_and_no_versions(
    hub: RunningHub, receiver: tuple[int, list[tuple[str, str]]]
) -> None:
    port, seen = receiver
    token = hub.tenant("ua", "ua-callbacks")
    body = {"callbackUri": f"http://127.0.0.1:{port}/callback"}
    hub.ok("POST", "/vnflcm/v2/subscriptions", body, token=token, headers={"Version": "2.0.0"})
    assert agents(seen, "/callback") == {PRODUCT}, seen


def test_a_package_uri_hears_the_product_and_no_versions(
    hub: RunningHub, receiver: tuple[int, list[tuple[str, str]]]
) -> None:
    port, seen = receiver
    token = hub.tenant("ua", "ua-packages")
    package = hub.ok("POST", "/vnfpkgm/v1/vnf_packages", {}, token=token)
    path = f"/vnfpkgm/v1/vnf_packages/{package['id']}/package_content/upload_from_uri"
    uri = f"http://127.0.0.1:{port}/package.zip"
    hub.call("POST", path, {"addressInformation": uri}, token=token)  # 204 is no package: 400
    assert agents(seen, "/package.zip") == {PRODUCT}, seen
