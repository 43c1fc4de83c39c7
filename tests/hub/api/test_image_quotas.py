"""``[hub] image_bytes_limit`` and ``image_uploads_per_project`` at ``PUT /v1/images/{id}/file``:
refused before a byte when the size is declared, cut while streaming when it is not, one
upload too many at once a 429; other projects and system-scope uploads unaffected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.api.images import FILES
from tests.hub.api.test_images import (
    CHUNK,
    assert_killed,
    create,
    images_api,
    members,
    put_file,
    raw_bytes,
    stored_chunks,
)
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import TEST_SETTINGS, Api

pytestmark = pytest.mark.integration
ROOM = 8 * CHUNK  # what a project's images may hold
AT_ONCE = 2  # uploads of a project in progress at once


@pytest.fixture
async def api(
    aiohttp_client: AiohttpClient,
    signing_key: Ed25519PrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Api:
    monkeypatch.setenv("ATOLL_IMAGES_CHUNK_SIZE", str(CHUNK))
    settings = replace(
        TEST_SETTINGS,
        data_dir=tmp_path / "hub",
        image_bytes_limit=ROOM,
        image_uploads_per_project=AT_ONCE,
    )
    return await images_api(aiohttp_client, signing_key, settings)


async def streamed(data: bytes, block: int = CHUNK // 4) -> AsyncIterator[bytes]:
    """The body without a Content-Length (chunked): the hub learns its size as it arrives."""
    for at in range(0, len(data), block):
        yield data[at : at + block]


async def shown(api: Api, token: str, image_id: str) -> str:
    return str((await api.ok("GET", f"/v1/images/{image_id}", token))["status"])


async def test_an_upload_past_the_projects_room_is_refused_and_others_are_not(
    api: Api, tmp_path: Path
) -> None:
    a, b = await members(api)
    held = await create(api, a, name="held")
    status, body = await put_file(api, a, held["id"], raw_bytes(5 * CHUNK))
    assert status == 200, body
    # declared (Content-Length) past the 3 chunks left: refused before it is read, unchanged
    declared = await create(api, a, name="declared")
    status, body = await put_file(api, a, declared["id"], raw_bytes(4 * CHUNK, 2))
    assert status == 403 and body["error"]["code"] == "over_limit", body
    assert "image_bytes_limit" in body["error"]["message"]
    assert await shown(api, a, declared["id"]) == "queued"
    # streamed: cut where it passes the room, killed, its chunks left for the gc
    before = stored_chunks(tmp_path / "hub" / "images")
    cut = await create(api, a, name="cut")
    status, body = await put_file(api, a, cut["id"], streamed(raw_bytes(20 * CHUNK, 3)))  # type: ignore[arg-type]
    assert status == 403 and body["error"]["code"] == "over_limit", body
    await assert_killed(api, a, cut["id"], "image_bytes_limit")
    assert before < stored_chunks(tmp_path / "hub" / "images") <= before + 3
    app = api.client.app
    assert app is not None
    await app[FILES].gc(grace_seconds=0)
    assert stored_chunks(tmp_path / "hub" / "images") == before
    # the project's image is untouched, its room is still there, another project has its own
    assert (await api.ok("GET", f"/v1/images/{held['id']}", a))["status"] == "active"
    status, body = await put_file(api, a, declared["id"], raw_bytes(3 * CHUNK, 2))
    assert status == 200, body
    other = await create(api, b, name="other")
    status, body = await put_file(api, b, other["id"], streamed(raw_bytes(ROOM, 4)))  # type: ignore[arg-type]
    assert status == 200, body
    # a system-scope upload (no project) is not counted
    admin = await api.admin()
    system = await create(api, admin, name="system", visibility="public")
    status, body = await put_file(api, admin, system["id"], raw_bytes(ROOM + CHUNK, 5))
    assert status == 200, body
    # deleting an image makes room
    await api.ok("DELETE", f"/v1/images/{held['id']}", a)
    again = await create(api, a, name="again")
    status, body = await put_file(api, a, again["id"], raw_bytes(5 * CHUNK, 6))
    assert status == 200, body


async def test_a_public_image_counts_against_its_projects_room(api: Api) -> None:
    a, _ = await members(api)
    image = await create(api, a, name="published")
    status, body = await put_file(api, a, image["id"], raw_bytes(ROOM - CHUNK))
    assert status == 200, body
    # public images of a project: published before publishing was a system act, or kept
    record = await api.store.get("image", image["id"])
    public = {**record.value, "visibility": "public"}
    await api.store.put("image", image["id"], public, expect_revision=record.revision)
    more = await create(api, a, name="more")
    status, body = await put_file(api, a, more["id"], raw_bytes(2 * CHUNK, 2))
    assert status == 403 and body["error"]["code"] == "over_limit", body


async def held_open(api: Api, token: str, image_id: str) -> asyncio.StreamWriter:
    """An upload in progress: headers and part of a declared body sent, the rest never."""
    server = api.client.server
    _reader, writer = await asyncio.open_connection(server.host, server.port)
    head = (
        f"PUT /v1/images/{image_id}/file HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {2 * CHUNK}\r\n\r\n"
    )
    writer.write(head.encode() + raw_bytes(CHUNK // 2))
    await writer.drain()
    return writer


async def test_one_upload_too_many_at_once_is_refused_until_one_ends(api: Api) -> None:
    a, b = await members(api)
    images = [await create(api, a, name=f"i{n}") for n in range(AT_ONCE + 1)]
    writers = [await held_open(api, a, image["id"]) for image in images[:AT_ONCE]]
    for image in images[:AT_ONCE]:
        for _ in range(100):
            if await shown(api, a, image["id"]) == "saving":
                break
            await asyncio.sleep(0.02)
    resp = await api.client.put(
        f"/v1/images/{images[-1]['id']}/file",
        data=raw_bytes(CHUNK),
        headers={"Authorization": f"Bearer {a}", "Content-Type": "application/octet-stream"},
    )
    body = await resp.json()
    assert resp.status == 429, body
    assert int(resp.headers["Retry-After"]) >= 1
    assert "image_uploads_per_project" in body["error"]["message"]
    assert await shown(api, a, images[-1]["id"]) == "queued"
    other = await create(api, b, name="other")  # another project's own
    status, body = await put_file(api, b, other["id"], raw_bytes(CHUNK))
    assert status == 200, body
    writers[0].close()  # one ends (cut: killed), which frees its place
    await writers[0].wait_closed()
    for _ in range(100):
        if await shown(api, a, images[0]["id"]) == "killed":
            break
        await asyncio.sleep(0.02)
    status, body = await put_file(api, a, images[-1]["id"], raw_bytes(CHUNK))
    assert status == 200, body
    writers[1].close()
    await writers[1].wait_closed()
