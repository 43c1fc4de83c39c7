"""/vnflcm/v2 as a SOL003 client sees it: Version, ProblemDetails, lists, isolation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.store.memory import MemoryStore
from atoll.passwords import Passwords
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api, FakeClock
from tests.hub.lcm.lcmtest import INSTANCES, OCCS, Lcm, lcm_hub


@pytest.fixture
async def lcm(aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path) -> Lcm:
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    settings = replace(TEST_SETTINGS, data_dir=tmp_path / "hub", nfv_page_size=2)
    app = build_app(settings, store, signing_key, FakeClock())
    return await lcm_hub(Api(await aiohttp_client(app), FakeClock()))


async def test_the_version_header_is_sol013s(lcm: Lcm) -> None:
    status, body, headers = await lcm.api.call("GET", INSTANCES, lcm.token)
    assert status == 400 and body["status"] == 400 and "Version" in body["detail"]
    assert headers["Content-Type"].startswith("application/problem+json")
    status, _, _ = await lcm.api.call("GET", INSTANCES, lcm.token, headers={"Version": "3.0.0"})
    assert status == 406
    status, _, headers = await lcm.call("GET", INSTANCES)
    assert status == 200 and headers["Version"] == "2.0.0"
    status, versions, _ = await lcm.api.call("GET", "/vnflcm/v2/api_versions")
    assert status == 200 and versions["apiVersions"][0]["version"] == "2.0.0"


async def test_lists_are_bare_arrays_filtered_and_paged_by_link(lcm: Lcm) -> None:
    made = [await lcm.instance(f"vnf{i}") for i in range(5)]
    seen: list[str] = []
    path: str | None = INSTANCES
    while path is not None:
        status, page, headers = await lcm.call("GET", path)
        assert status == 200 and isinstance(page, list) and len(page) <= 2
        seen += [i["id"] for i in page]
        link = headers.get("Link")
        path = link[link.index("/vnflcm") : link.index(">")] if link else None
    assert sorted(seen) == sorted(made)  # each once
    named = await lcm.ok("GET", f"{INSTANCES}?filter=(eq,vnfInstanceName,vnf3)")
    assert [i["id"] for i in named] == [made[3]]
    status, body, _ = await lcm.call("GET", f"{INSTANCES}?filter=(eq,x,1,2)")
    assert status == 400 and body["detail"]
    assert "instantiatedVnfInfo" not in (await lcm.ok("GET", INSTANCES))[0]


async def test_another_project_sees_nothing_and_can_do_nothing(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    op_id = await lcm.task(instance_id, "instantiate", {"flavourId": "simple"})
    other = await lcm.other_member()
    assert await lcm.ok("GET", INSTANCES) != []
    for path in (INSTANCES, OCCS):
        status, items, _ = await lcm.call("GET", path, token=other)
        assert status == 200 and items == []
    for method, path in (
        ("GET", f"{INSTANCES}/{instance_id}"),
        ("GET", f"{OCCS}/{op_id}"),
        ("DELETE", f"{INSTANCES}/{instance_id}"),
        ("POST", f"{OCCS}/{op_id}/fail"),
    ):
        status, _, _ = await lcm.call(method, path, token=other)
        assert status == 404, (method, path)
    status, _, _ = await lcm.call(
        "POST", f"{INSTANCES}/{instance_id}/terminate", {"terminationType": "FORCEFUL"},
        token=other,
    )  # fmt: skip
    assert status == 404
    # and another project's package is not theirs to instantiate from
    status, body, _ = await lcm.call("POST", INSTANCES, {"vnfdId": "7d2b8e0c-0e2f-4b8a-9d55-"
                                                         "2f0d1c9a6e10"}, token=other)  # fmt: skip
    assert status == 400 and "vnfdId" in body["detail"]
