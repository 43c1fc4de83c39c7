"""Server-side request forgery: a user cannot make the hub fetch a URI of their choosing.

SOL005 ``upload_from_uri`` has the hub fetch a package; a hub that fetched whatever a user
names would reach its own API, internal hosts or a cloud metadata service for them. A hub
whose ``vnf_package_uri_hosts`` names no host (the default) fetches nothing, and no scheme
but http(s) is ever taken; a URI that does not parse is the caller's 400, not a 500.
"""

from __future__ import annotations

import socket

import pytest

from tests.security.daemons import RunningHub

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
