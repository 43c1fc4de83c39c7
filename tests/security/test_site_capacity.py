"""Capacity: a site refuses a server its host cannot hold when the request comes in.

vCPUs, RAM and the root disk are checked against the host's totals (times the allocation
ratios, less ``reserved_host_memory_mb``) minus what the site's servers already hold; a
refusal is a 409 naming the short resource and by how much, and nothing is written.
"""

from __future__ import annotations

import pytest

from tests.security.daemons import RunningSite
from tests.site_agent import real_site


@pytest.fixture(scope="module")
def lan(site: RunningSite, tmp_path_factory: pytest.TempPathFactory) -> str:
    kernel, blank = real_site.test_images(tmp_path_factory.mktemp("cap-images"))
    for image in (kernel, blank):
        assert site.upload_image(image.id, image.path).status == 201
    site.ok("POST", "/v1/networks", {"name": "cap-lan"})
    site.ok("POST", "/v1/subnets", {"network": "cap-lan", "cidr": "10.73.0.0/24"})
    return "cap-lan"


def _server(name: str, flavor: str, lan: str) -> dict[str, object]:
    return {"name": name, "flavor": flavor, "image": "blank", "kernel": "tiny-kernel",
            "nics": [{"network": lan}]}  # fmt: skip


def test_a_terabyte_of_ram_is_refused_with_what_is_short(site: RunningSite, lan: str) -> None:
    site.ok("POST", "/v1/flavors", {"name": "huge-ram", "vcpus": 1, "ram_mb": 1048576})
    reply = site.call("POST", "/v1/servers", _server("too-big", "huge-ram", lan))
    assert reply.status == 409, reply
    error = reply.body["error"]
    assert error["code"] == "insufficient_capacity"
    message = error["message"]
    assert "ram_mb: needs 1048576 MB" in message and "MB short" in message, error
    assert "vcpus" not in message and "root disk" not in message, error  # only what is short
    names = {s["name"] for s in site.ok("GET", "/v1/servers")["items"]}
    assert "too-big" not in names  # nothing written


def test_a_normal_server_is_accepted(site: RunningSite, lan: str) -> None:
    server = site.ok("POST", "/v1/servers", _server("fits", "tiny", lan))["server"]
    site.wait_status("server", server["id"], "ACTIVE")
    site.ok("DELETE", f"/v1/servers/{server['id']}")
