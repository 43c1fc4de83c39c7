"""Fixtures for the hub's API tests: a hub app on a MemoryStore with a fake clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll import tokens
from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.store.memory import MemoryStore
from atoll.passwords import Passwords
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, TEST_SETTINGS, Api, FakeClock

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return tokens.generate_signing_key()


@pytest.fixture
async def api(aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey) -> Api:
    store = MemoryStore()
    passwords = Passwords(1, 8, 1)
    await seed_admin(store, ADMIN, passwords.hash_now(ADMIN_PASSWORD))
    clock = FakeClock()
    app = build_app(TEST_SETTINGS, store, signing_key, clock)
    return Api(await aiohttp_client(app), clock)
