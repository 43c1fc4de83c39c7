"""The OpenAPI document: complete, valid, and true (schemathesis fuzzes every operation)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests
import schemathesis

# schemathesis is a pytest plugin, so pytest rewrites its modules as they are imported; import
# this one now, before the hub's thread runs: CPython 3.11's AST constructor keeps its recursion
# depth per interpreter, and a rewrite racing another thread fails with "AST constructor
# recursion depth mismatch" (python/cpython#106905).
import schemathesis.specs.openapi.schemas
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES

from atoll import certs
from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.store.memory import MemoryStore
from atoll.passwords import Passwords
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api

LOCKS_ADMIN_OUT = "auth.password.change"

pytestmark = pytest.mark.integration

CROSS_FIELD_RULES = {"flavors.create", "application_credentials.create", "images.create"}
CROSS_FIELD_RULES.add("identity_v3.tokens.issue")  # one method with its data, one scope
# specs name catalog entries and objects at the site, and have rules between their fields
CROSS_FIELD_RULES |= {f"site_{n}.create" for n in ("servers", "networks", "subnets", "volumes")}
# a SOL013 filter has a grammar of its own; a subscription's callback is called first (422)
CROSS_FIELD_RULES |= {"vnflcm_subscriptions.list", "vnflcm_subscriptions.create"}
# an alarm's rule is checked by its type, and names a site and, for a project, its server
CROSS_FIELD_RULES |= {"alarms.create"}
# SOL013 lists: the filter and selector grammar; an instance needs an onboarded package's vnfdId
CROSS_FIELD_RULES |= {"vnflcm.instances.list", "vnflcm.op_occs.list", "vnflcm.instances.create"}

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


async def test_every_route_is_in_the_document(api: Api) -> None:
    doc = await api.ok("GET", "/v1/openapi.json", "")
    assert doc["openapi"].startswith("3.1")
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in api.client.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and not route.resource.canonical.startswith("/ui")  # the dashboard, not the API
    }
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["operationId"] and op["summary"], (method, path)
            assert "4XX" in op["responses"], (method, path)


def login(url: str) -> str:
    body = {"user": ADMIN, "password": ADMIN_PASSWORD}
    token: str = requests.post(f"{url}/v1/auth/tokens", json=body, timeout=10).json()["token"]
    return token


@dataclass
class Running:
    url: str
    token: str


@pytest.fixture(scope="module")
def running_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """A hub on a MemoryStore in its own thread and loop (schemathesis calls are blocking),
    with a CA in its data dir (so ``/readyz`` says ready)."""
    settings = replace(TEST_SETTINGS, data_dir=tmp_path_factory.mktemp("openapi-hub"))
    ca = certs.new_ca()
    certs.write_pem(settings.ca_key, ca.key_pem(), private=True)
    certs.write_pem(settings.ca_cert, ca.cert_pem())
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    state: dict[str, object] = {}

    async def start() -> None:
        store = MemoryStore()
        await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
        runner = web.AppRunner(build_app(settings, store, Ed25519PrivateKey.generate()))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    ready.wait(30)
    url = f"http://127.0.0.1:{state['port']}"
    try:
        yield Running(url, login(url))
    finally:
        runner = state["runner"]
        assert isinstance(runner, web.AppRunner)
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def fuzz(operation: Any, url: str, session: requests.Session) -> None:
    """A few valid and a few invalid requests to one operation; every check must hold."""
    # these document rules beyond their schema (cross-field, time); see the document
    raw = operation.definition.raw
    # SOL013 lists: filter grammar and attribute selector combinations (see their description)
    sol013_list = any(p.get("name") == "filter" for p in raw.get("parameters", []))
    cross_field = raw.get("operationId") in CROSS_FIELD_RULES or sol013_list
    excluded = [positive_data_acceptance] if cross_field else []
    # a fresh token per operation: some operations (log out, revoke) end the one they use
    headers = {"Authorization": f"Bearer {login(url)}"}
    strategy = st.one_of(
        operation.as_strategy(),
        operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    )

    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=strategy)
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=url, session=session, headers=headers, excluded_checks=excluded
        )

    check()


def test_schemathesis_finds_no_server_errors_or_schema_violations(running_hub: Running) -> None:
    doc = requests.get(f"{running_hub.url}/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc, config=FUZZ_CONFIG)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    # Wrong current passwords count against the admin's login throttle; fuzz that last so
    # the lock it may trip cannot refuse the logins the other operations start with.
    operations.sort(key=lambda op: op.definition.raw.get("operationId") == LOCKS_ADMIN_OUT)
    assert len(operations) == sum(len(ops) for ops in doc["paths"].values())
    with requests.Session() as session:
        for operation in operations:
            fuzz(operation, running_hub.url, session)
