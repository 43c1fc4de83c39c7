"""``[hub] vnf_package_bytes_limit``: a project's package content past its room is refused,
before it is read when its size is declared, where it passes the room when it streams; the
package stays as it was, other projects keep their own room, a delete makes room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.hub.api.test_vnf_packages import package_dir, projects
from tests.hub.api.vnf_packages import BASE, create, package_api, put_content, wait_onboarded
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import Api

pytestmark = pytest.mark.integration
ROOM = 200_000


@pytest.fixture
async def papi(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> Api:
    return await package_api(
        aiohttp_client, signing_key, tmp_path / "hub", vnf_package_bytes_limit=ROOM
    )


async def stored(api: Api, token: str, size: int) -> dict[str, object]:
    """A package holding ``size`` bytes of content (not a CSAR: it ends in ERROR, content kept)."""
    package = await create(api, token)
    status, body = await put_content(api, token, package["id"], b"x" * size)
    assert status == 202, body
    done = await wait_onboarded(api, token, package["id"])
    assert done["onboardingState"] == "ERROR" and done["size"] == size
    return done


async def blocks(total: int, block: int = 16_384) -> AsyncIterator[bytes]:
    for _ in range(total // block):
        yield b"y" * block


async def test_package_content_past_the_projects_room_is_refused(papi: Api) -> None:
    who = await projects(papi)
    held = await stored(papi, who["a"], 150_000)
    package = await create(papi, who["a"])
    path = f"{BASE}/{package['id']}"
    status, body = await put_content(papi, who["a"], package["id"], b"x" * 60_000)
    assert status == 403 and body["status"] == 403, body
    assert "vnf_package_bytes_limit" in body["detail"]
    resp = await papi.client.put(  # no Content-Length: cut where it passes the room
        f"{path}/package_content",
        data=blocks(50 * 16_384),
        headers={"Authorization": f"Bearer {who['a']}", "Content-Type": "application/zip"},
    )
    assert resp.status == 403, await resp.text()
    assert (await papi.ok("GET", path, who["a"]))["onboardingState"] == "CREATED"
    assert sorted(p.name for p in package_dir(papi).iterdir()) == [f"{held['id']}.zip"]
    assert (await papi.ok("GET", f"{BASE}/{held['id']}", who["a"]))["size"] == 150_000
    await stored(papi, who["b"], 150_000)  # another project's own room
    status, body = await put_content(papi, who["a"], package["id"], b"x" * 50_000)
    assert status == 202, body  # what is left
    await wait_onboarded(papi, who["a"], package["id"])
    await papi.ok("DELETE", f"{BASE}/{held['id']}", who["a"])  # a delete makes room
    await stored(papi, who["a"], 140_000)
