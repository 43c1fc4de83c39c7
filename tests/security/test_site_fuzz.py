"""Fuzzing the running site agent: no request, however malformed, gets a 5xx.

schemathesis reads the agent's own ``/openapi.json`` (generated from its route table, with the
request schemas of the typed model) and sends valid and invalid requests to
every operation (paths, ids, actions); then hypothesis posts arbitrary JSON (deep, wide,
wrong types, odd numbers and text) to every route that takes a body. Each answer must be a
2xx/4xx with the one error body, never a server error or a dropped connection.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.security.daemons import RunningSite

pytestmark = pytest.mark.integration

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
# bodies shaped like the real ones, with fields of any type: reaches past the first check
FIELDS = ["name", "flavor", "image", "kernel", "ramdisk", "nics", "volumes", "cidr",
          "network", "gateway", "allocation_pools", "size_gb", "vcpus", "ram_mb", "id", "file",
          "sha256", "segment_type", "vlan_id", "mtu", "user_data", "path", "server"]  # fmt: skip
SHAPED = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=8)


def _body_routes(doc: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for path, ops in doc["paths"].items():
        for method in ops:
            if method in ("post", "put", "patch") and "{" not in path and "auth" not in path:
                out.append((method.upper(), path))
    return out


def test_schemathesis_over_every_operation_finds_no_server_error(site: RunningSite) -> None:
    doc = requests.get(f"{site.url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == sum(len(ops) for ops in doc["paths"].values())
    headers = {"Authorization": f"Bearer {site.token}"}
    with requests.Session() as session:
        for operation in operations:
            strategy = st.one_of(
                operation.as_strategy(),
                operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
            )

            @settings(
                max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
                database=None,
            )  # fmt: skip
            @given(case=strategy)
            def check(case: Any) -> None:
                case.call_and_validate(
                    base_url=site.url, session=session, headers=headers,
                    checks=[not_a_server_error],
                )  # fmt: skip

            check()


def test_arbitrary_json_bodies_never_get_a_server_error(site: RunningSite) -> None:
    doc = requests.get(f"{site.url}/openapi.json", timeout=10).json()
    routes = _body_routes(doc)
    assert ("POST", "/v1/servers") in routes and ("POST", "/v1/subnets") in routes
    headers = {"Authorization": f"Bearer {site.token}", "Content-Type": "application/json"}
    with requests.Session() as session:

        @settings(
            max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(route=st.sampled_from(routes), body=SHAPED | JSON_VALUES)
        def check(route: tuple[str, str], body: Any) -> None:
            method, path = route
            raw = json.dumps(body).encode()
            resp = session.request(method, site.url + path, data=raw, headers=headers, timeout=30)
            assert resp.status_code < 500, (method, path, body, resp.text[:300])
            if resp.status_code >= 400:
                assert "error" in resp.json(), resp.text[:300]

        check()
    assert site.call("GET", "/health", token="").status == 200  # still up and answering
