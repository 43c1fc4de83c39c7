"""Subnets at the site: the whole internet, loopback, link-local, multicast and reserved ranges,
addresses that are not hosts, and overlaps on one network are refused with a 400 naming the field.

Before: ``0.0.0.0/0`` was accepted and a VM got ``0.0.0.2``; two subnets of one network could
cover the same addresses.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.security.daemons import RunningSite

NET = "subnet-attack"
OTHER = "subnet-other"


@pytest.fixture(scope="module")
def networks(site: RunningSite) -> str:
    for name in (NET, OTHER):
        site.ok("POST", "/v1/networks", {"name": name})
    return NET


def refused(site: RunningSite, body: dict[str, Any], where: str, reason: str) -> None:
    reply = site.call("POST", "/v1/subnets", {"network": NET, **body})
    assert reply.status == 400, reply
    problems = {p["where"]: p["what"] for p in reply.body["error"]["problems"]}
    assert where in problems, reply
    assert reason in problems[where], reply


BAD_CIDRS = [
    ("0.0.0.0/0", "prefix"),
    ("::/0", "prefix"),
    ("8.0.0.0/6", "prefix"),
    ("2001:db8::/32", "prefix"),
    ("0.0.0.0/24", "unspecified"),
    ("127.0.0.0/8", "loopback"),
    ("127.0.0.0/24", "loopback"),
    ("::1/128", "prefix"),
    ("169.254.0.0/16", "link-local"),
    ("fe80::/64", "link-local"),
    ("224.0.0.0/24", "multicast"),
    ("ff02::/64", "multicast"),
    ("240.0.0.0/24", "reserved"),
    ("255.255.255.0/24", "reserved"),
    ("::/64", "reserved"),
    ("10.80.0.0/31", "prefix"),
]


@pytest.mark.parametrize(("cidr", "reason"), BAD_CIDRS)
def test_bad_ranges_are_refused(site: RunningSite, networks: str, cidr: str, reason: str) -> None:
    refused(site, {"cidr": cidr}, "body.cidr", reason)


def test_gateway_must_be_a_host_of_the_subnet(site: RunningSite, networks: str) -> None:
    cidr = "10.81.0.0/24"
    refused(site, {"cidr": cidr, "gateway": "10.81.0.0"}, "body.gateway", "network address")
    refused(site, {"cidr": cidr, "gateway": "10.81.0.255"}, "body.gateway", "broadcast")
    refused(site, {"cidr": cidr, "gateway": "10.82.0.1"}, "body.gateway", "outside")


def test_allocation_pools_hold_only_hosts_of_the_subnet(site: RunningSite, networks: str) -> None:
    cidr = "10.83.0.0/24"

    def pool(start: str, end: str) -> dict[str, Any]:
        return {"cidr": cidr, "allocation_pools": [{"start": start, "end": end}]}

    refused(site, pool("10.83.0.0", "10.83.0.9"), "body.allocation_pools[0].start", "network")
    refused(site, pool("10.83.0.9", "10.83.0.255"), "body.allocation_pools[0].end", "broadcast")
    refused(site, pool("10.83.0.9", "10.83.0.5"), "body.allocation_pools[0]", "before")
    refused(site, pool("10.83.0.9", "10.83.1.5"), "body.allocation_pools[0].end", "outside")


def test_overlapping_subnets_of_one_network_are_refused(site: RunningSite, networks: str) -> None:
    made = site.ok("POST", "/v1/subnets", {"network": NET, "cidr": "10.84.0.0/24"})["subnet"]
    for cidr in ("10.84.0.0/24", "10.84.0.128/25", "10.84.0.0/16"):
        refused(site, {"cidr": cidr}, "body.cidr", "overlaps")
    reply = site.call("POST", "/v1/subnets", {"network": NET, "cidr": "10.84.0.0/25"})
    assert made["id"] in reply.body["error"]["problems"][0]["what"], reply
    # another network is another L2 segment: the same range is fine there
    site.ok("POST", "/v1/subnets", {"network": OTHER, "cidr": "10.84.0.0/24"})


def test_concurrent_overlapping_creates_make_one_subnet(site: RunningSite, networks: str) -> None:
    cidrs = [f"10.85.{i}.0/24" for i in range(4)] * 2 + ["10.85.0.0/22"] * 4

    def create(cidr: str) -> int:
        return site.call("POST", "/v1/subnets", {"network": NET, "cidr": cidr}).status

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(create, cidrs))
    assert set(statuses) <= {201, 400}, statuses
    subnets = site.ok("GET", "/v1/subnets")["items"]
    mine = [s["cidr"] for s in subnets if s["cidr"].startswith("10.85.")]
    # either the /22 or some of the /24s, never both, never one /24 twice
    assert len(mine) == len(set(mine)), mine
    assert not ("10.85.0.0/22" in mine and len(mine) > 1), mine
    assert statuses.count(201) == len(mine)


def test_good_subnets_are_accepted(site: RunningSite, networks: str) -> None:
    made = site.ok("POST", "/v1/subnets", {"network": NET, "cidr": "10.86.0.0/24"})["subnet"]
    assert made["cidr"] == "10.86.0.0/24" and made["gateway"] == "10.86.0.1"
    small = {"network": NET, "cidr": "10.86.1.0/30", "gateway": "10.86.1.1"}
    assert site.ok("POST", "/v1/subnets", small)["subnet"]["cidr"] == "10.86.1.0/30"
    v6 = {"network": NET, "cidr": "fd00:86::/64"}
    assert site.ok("POST", "/v1/subnets", v6)["subnet"]["gateway"] == "fd00:86::1"
