"""Server-side request forgery: a user cannot make the hub fetch a URI of their choosing.

SOL005 ``upload_from_uri`` has the hub fetch a package; a hub that fetched whatever a user
names would reach its own API, internal hosts or a cloud metadata service for them. A hub
whose ``vnf_package_uri_hosts`` names no host (the default) fetches nothing, and no scheme
but http(s) is ever taken; a URI that does not parse is the caller's 400, not a 500.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.security.daemons import RunningHub, running_hub

PACKAGES = "/vnfpkgm/v1/vnf_packages"


def test_the_hub_fetches_no_uri_it_is_not_told_to(hub: RunningHub) -> None:
    token = hub.tenant("ssrf", "ssrf-member")
    package = hub.ok("POST", PACKAGES, {}, token=token)
    path = f"{PACKAGES}/{package['id']}/package_content/upload_from_uri"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        for uri in (
            f"http://127.0.0.1:{port}/package.zip",
            f"http://localhost:{port}/package.zip",
            f"{hub.url}/v1/projects",
            "http://169.254.169.254/latest/meta-data/",
        ):
            reply = hub.call("POST", path, {"addressInformation": uri}, token=token)
            assert reply.status == 403, reply
            assert "vnf_package_uri_hosts" in reply.message
        for uri in (
            "file:///etc/passwd",
            f"gopher://127.0.0.1:{port}/",
            f"http://user:pw@127.0.0.1:{port}/",
            f"http://[127.0.0.1:{port}/package.zip",  # an unclosed IPv6 literal
            "http://[localhost]/package.zip",  # not an IPv6 literal
            "http://localhost:99999/package.zip",  # no such port
        ):
            reply = hub.call("POST", path, {"addressInformation": uri}, token=token)
            assert reply.status == 400, reply
            assert reply.body["problems"][0]["where"] == "body.addressInformation"
        with pytest.raises(BlockingIOError):
            listener.accept()  # the hub never connected
    shown = hub.ok("GET", f"{PACKAGES}/{package['id']}", token=token)
    assert shown["onboardingState"] == "CREATED" and shown["checksum"] is None


def test_a_listed_host_is_fetched_from_on_the_ports_listed_only(tmp_path: Path) -> None:
    """``127.0.0.1`` listed alone is its scheme's port (80/443): a tenant naming another port
    of it is refused before the hub connects, so it cannot map which ports answer there
    (a failed fetch says why: refused, timed out, TLS)."""
    config = '[hub]\nvnf_package_uri_hosts = ["127.0.0.1", "localhost:8"]\n'
    with running_hub(tmp_path, config=config) as hub, socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        token = hub.tenant("ports", "ports-member")
        package = hub.ok("POST", PACKAGES, {}, token=token)
        path = f"{PACKAGES}/{package['id']}/package_content/upload_from_uri"
        for uri, allowed in (
            (f"http://127.0.0.1:{port}/package.zip", "80"),
            (f"https://127.0.0.1:{port}/package.zip", "443"),
            (f"http://localhost:{port}/package.zip", "8"),
        ):
            reply = hub.call("POST", path, {"addressInformation": uri}, token=token)
            assert reply.status == 403, reply
            assert f"on port {allowed} only" in reply.message and str(port) in reply.message
        with pytest.raises(BlockingIOError):
            listener.accept()  # the hub never connected
