"""The hub on a real 3-member etcd cluster keeps serving when a member stops."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.store import open_store
from atoll.passwords import Passwords
from atoll.testbed.services.etcd import EtcdCluster
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api, FakeClock

pytestmark = pytest.mark.integration


async def test_hub_survives_losing_one_etcd_member(
    etcd_cluster: EtcdCluster, aiohttp_client: AiohttpClient, tmp_path: Path
) -> None:
    store = open_store(etcd_cluster.url, tmp_path)
    try:
        await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
        clock = FakeClock()
        app = build_app(TEST_SETTINGS, store, Ed25519PrivateKey.generate(), clock)
        api = Api(await aiohttp_client(app), clock)
        admin = await api.admin()
        await api.ok("POST", "/v1/projects", admin, {"name": "before"})
        member = await api.user_with_role("m", "before", "member")

        etcd_cluster.members[0].stop()  # the first endpoint the store talks to

        await api.ok("POST", "/v1/projects", admin, {"name": "after"})
        names = [p["name"] for p in (await api.ok("GET", "/v1/projects", admin))["items"]]
        assert names == ["after", "before"]
        assert [p["name"] for p in (await api.ok("GET", "/v1/projects", member))["items"]] == [
            "before"
        ]
        api.tokens.clear()
        assert await api.token("m", "m-password", "before")  # logging in reads the store
        clock.now += 1
        await api.ok("POST", "/v1/revocations", admin, {"subject": "user", "value": "m"})
        assert (await api.call("GET", "/v1/projects", member))[0] == 401
    finally:
        await store.close()
