"""The local API's OpenAPI document: generated from the route table, complete, and true.

schemathesis fuzzes every operation of an agent on loopback (real SQLite store, the storage
driver's fake image cache) with all its checks: no server error, every answer in the
documented status, content type and schema; bodies the schema refuses are refused.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis

# imported before the agent's thread runs (see tests/hub/api/test_openapi.py: pytest rewrites
# schemathesis' modules as they are imported, which must not race another thread)
import schemathesis.specs.openapi.schemas
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES

from atoll.site_agent.api.app import ROUTES, build_app
from atoll.site_agent.api.policy import POLICY
from tests.site_agent.api_harness import make_context

pytestmark = pytest.mark.integration

# Creates and actions whose schema-valid bodies name objects that must exist at the site
# (a flavor, an image, a network, a server): refused with 400 by rules beyond the schema.
CROSS_OBJECT_RULES = {
    "servers.create", "subnets.create", "networks.create", "volumes.create", "flavors.create",
    "servers.rebuild", "volumes.attach", "volumes.detach", "volumes.extend", "images.create",
    "images.upload", "auth.tokens.issue",
}  # fmt: skip

# A negative example may be too big for the body limit: 413 is a correct refusal of invalid
# data (schemathesis's default list of expected refusals leaves it out).
FUZZ_CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
            }
        }
    }
)


def test_every_route_is_in_the_policy_table_and_the_document() -> None:
    names = [route.name for route in ROUTES]
    assert len(names) == len(set(names))
    assert set(names) == set(POLICY)
    for route in ROUTES:
        assert route.public == (POLICY[route.name] in ("public", "metrics")), route.name
        if route.method in ("POST", "PUT") and not route.raw_body:
            assert route.body is not None, f"{route.name} takes a body: declare its schema"


@dataclass
class Running:
    url: str
    token: str


@pytest.fixture(scope="module")
def running_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The local API on loopback in its own thread and loop (schemathesis calls block)."""
    tmp: Path = tmp_path_factory.mktemp("site")
    loop = asyncio.new_event_loop()
    state: dict[str, Any] = {}

    async def start() -> None:
        ctx, store, secret = await make_context(tmp)
        runner = web.AppRunner(build_app(ctx))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        state.update(runner=runner, store=store, secret=secret, port=runner.addresses[0][1])

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    url = f"http://127.0.0.1:{state['port']}"
    body = {"name": "admin", "secret": state["secret"]}
    token = requests.post(f"{url}/v1/auth/tokens", json=body, timeout=10).json()["token"]
    try:
        yield Running(url, token)
    finally:

        async def stop() -> None:
            await state["runner"].cleanup()
            await state["store"].close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_the_document_has_request_schemas_and_paged_lists(running_site: Running) -> None:
    doc = requests.get(f"{running_site.url}/openapi.json", timeout=10).json()
    create = doc["paths"]["/v1/servers"]["post"]["requestBody"]["content"]["application/json"]
    schema = create["schema"]
    assert schema["additionalProperties"] is False
    assert {"name", "flavor", "nics"} <= set(schema["properties"])
    assert "ports" not in schema["properties"]  # the site fills those in
    nic = schema["properties"]["nics"]["items"]
    assert nic["required"] == ["network"] and nic["properties"]["vnic_type"]["enum"]
    listed = doc["paths"]["/v1/servers"]["get"]
    assert {p["name"] for p in listed["parameters"]} == {"limit", "marker"}
    page = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["required"] == ["items", "next_marker"]


def test_lists_page_like_the_hubs(running_site: Running) -> None:
    headers = {"Authorization": f"Bearer {running_site.token}"}
    url = f"{running_site.url}/v1/flavors"
    everything = requests.get(url, headers=headers, timeout=10).json()
    assert everything["next_marker"] is None and len(everything["items"]) >= 3
    seen: list[str] = []
    marker: str | None = None
    while True:
        query = {"limit": "2", **({"marker": marker} if marker else {})}
        page = requests.get(url, headers=headers, params=query, timeout=10).json()
        assert len(page["items"]) <= 2
        seen += [f["id"] for f in page["items"]]
        marker = page["next_marker"]
        if marker is None:
            break
    assert seen == sorted(f["id"] for f in everything["items"])
    bad = requests.get(url, headers=headers, params={"limit": "0"}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["error"]["problems"][0]["where"] == "query.limit"


def fuzz(operation: Any, running: Running, session: requests.Session) -> None:
    """A few valid and a few invalid requests to one operation; every check must hold."""
    rules = operation.definition.raw.get("operationId") in CROSS_OBJECT_RULES
    excluded = [positive_data_acceptance] if rules else []
    headers = {"Authorization": f"Bearer {running.token}"}
    strategy = st.one_of(
        operation.as_strategy(),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    )

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=strategy)
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=running.url, session=session, headers=headers, excluded_checks=excluded
        )

    check()


def test_schemathesis_finds_no_server_errors_or_schema_violations(running_site: Running) -> None:
    doc = requests.get(f"{running_site.url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc, config=FUZZ_CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == sum(len(ops) for ops in doc["paths"].values())
    with requests.Session() as session:
        for operation in operations:
            fuzz(operation, running_site, session)
