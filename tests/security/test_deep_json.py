"""Deeply nested and oversized JSON bodies: a 4xx naming the limit, never a 500, and the daemon
keeps answering.

Before: ``[`` x 100,000 gave the site agent a 500 (RecursionError); both daemons took any
nesting the C parser survived, and the site read a body in one ``read()`` of a chunk.
"""

from __future__ import annotations

import json

import pytest

from tests.security.daemons import Daemon, RunningHub, RunningSite

DEEP = 100_000


def nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


def nested_objects(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


ATTACKS = {
    "arrays": nested(DEEP),
    "objects": nested_objects(40_000),  # 240 KB: under the site's 256 KiB body limit
    "unclosed": b"[" * DEEP,
    "in-a-field-40": b'{"name": "x", "description": ' + nested(40) + b"}",
    "in-a-field-33": b'{"name": "x", "description": ' + nested(33) + b"}",
}


def check_refused(daemon: Daemon, path: str, raw: bytes, token: str | None = None) -> None:
    reply = daemon.call("POST", path, raw=raw, token=token)
    assert reply.status == 400, reply
    assert "too deep" in reply.message, reply
    assert "limit 32" in reply.message, reply


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_site_refuses_deep_json(api_site: RunningSite, attack: str) -> None:
    for path in ("/v1/networks", "/v1/auth/tokens", "/v1/flavors"):
        check_refused(api_site, path, ATTACKS[attack])
    assert api_site.call("GET", "/health").status == 200


@pytest.fixture(scope="module")
def member(hub: RunningHub) -> str:
    return hub.tenant("deep-json", "deep-json-member")


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hub_refuses_deep_json(hub: RunningHub, member: str, attack: str) -> None:
    for path in ("/v1/projects", "/v1/auth/tokens"):
        check_refused(hub, path, ATTACKS[attack])
    check_refused(hub, "/vnfpkgm/v1/vnf_packages", ATTACKS[attack], token=member)
    assert hub.call("GET", "/v1/projects").status == 200


def test_nesting_up_to_the_limit_is_read(api_site: RunningSite, hub: RunningHub) -> None:
    """32 levels parse: the refusal is then about the field, not the nesting."""
    body = b'{"name": "x", "description": ' + nested(31) + b"}"
    for daemon, path in ((api_site, "/v1/networks"), (hub, "/v1/projects")):
        reply = daemon.call("POST", path, raw=body)
        assert reply.status == 400, reply
        assert "too deep" not in reply.body["error"]["message"], reply
        assert "body.description" in {p["where"] for p in reply.body["error"]["problems"]}


def filler(size: int) -> bytes:
    return json.dumps({"name": "x", "description": "a" * size}).encode()


@pytest.mark.parametrize("size", [300 * 1024, 600 * 1024, 3 * 1024 * 1024])
def test_huge_bodies_are_413_at_the_site(api_site: RunningSite, size: int) -> None:
    reply = api_site.call("POST", "/v1/networks", raw=filler(size))
    assert reply.status == 413, reply
    assert reply.body["error"]["code"] == "too_large", reply
    assert api_site.call("GET", "/health").status == 200


@pytest.mark.parametrize("size", [2 * 1024 * 1024, 8 * 1024 * 1024])
def test_huge_bodies_are_413_at_the_hub(hub: RunningHub, size: int) -> None:
    reply = hub.call("POST", "/v1/projects", raw=filler(size))
    assert reply.status == 413, reply
    assert reply.body["error"]["code"] == "too_large", reply
    assert hub.call("GET", "/v1/projects").status == 200


def test_non_json_numbers_are_refused(api_site: RunningSite, hub: RunningHub) -> None:
    """NaN and Infinity are not JSON; Python's parser takes them unless told not to."""
    for daemon, path in ((api_site, "/v1/flavors"), (hub, "/v1/flavors")):
        body = b'{"name": "nan-flavor", "vcpus": NaN, "ram_mb": Infinity}'
        reply = daemon.call("POST", path, raw=body)
        assert reply.status == 400, reply
        assert (
            "not JSON" in reply.body["error"]["message"]
            or "not valid JSON" in (reply.body["error"]["message"])
        ), reply
