"""A hub on a MemoryStore behind an aiohttp test server, and a caller that logs in as anyone.

Used by the API tests (``tests/hub/api``) through the fixtures in ``tests/hub/conftest.py``.
Password hashing uses argon2's cheapest parameters here: the tests exercise the API, not the
hash's cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from atoll.hub.api.context import HUB
from atoll.hub.settings import HubSettings
from atoll.hub.store.base import Store
from tests.hub.conformance import ResponseChecker

CHECKER = ResponseChecker()
JSON_TYPES = ("application/json", "application/problem+json")
ADMIN = "admin"
ADMIN_PASSWORD = "admin-password"
TEST_SETTINGS = HubSettings(
    password_time_cost=1, password_memory_kib=8, password_parallelism=1, max_body_bytes=65536
)


@dataclass
class FakeClock:
    now: float = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    client: TestClient[Any, Any]
    clock: FakeClock
    tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        app = self.client.app
        assert app is not None
        store: Store = app[HUB].store
        return store

    async def token(self, user: str, password: str, project: str | None = None) -> str:
        key = (user, project)
        if key not in self.tokens:
            body: dict[str, Any] = {"user": user, "password": password}
            if project is not None:
                body["project"] = project
            resp = await self.client.post("/v1/auth/tokens", json=body)
            assert resp.status == 201, await resp.text()
            self.tokens[key] = (await resp.json())["token"]
        return self.tokens[key]

    async def admin(self) -> str:
        return await self.token(ADMIN, ADMIN_PASSWORD)

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, CIMultiDict[str]]:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        resp = await self.client.request(method, path, json=body, headers=all_headers)
        data = await resp.json(content_type=None) if resp.content_type.endswith("json") else None
        CHECKER.check(method, path, resp.status, data, resp.content_type)
        return resp.status, data, CIMultiDict(resp.headers)

    async def ok(self, method: str, path: str, token: str, body: Any = None) -> Any:
        status, data, _ = await self.call(method, path, token, body)
        assert 200 <= status < 300, (status, data)
        return data

    async def user_with_role(self, name: str, project: str, role: str) -> str:
        """Create ``name`` (password ``name-password``) with ``role`` on ``project``; its token."""
        admin = await self.admin()
        status, data, _ = await self.call(
            "POST", "/v1/users", admin, {"name": name, "password": f"{name}-password"}
        )
        assert status in (201, 409), data
        status, data, _ = await self.call(
            "POST",
            "/v1/role_assignments",
            admin,
            {"user": name, "project": project, "role": role},
        )
        assert status in (201, 409), data
        return await self.token(name, f"{name}-password", project)
