"""``/v1/images``: upload, validation refusals, download, isolation, in-use delete, prestage."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.api.images import FILES
from atoll.hub.app import build_app
from atoll.hub.bootstrap import seed_admin
from atoll.hub.settings import HubSettings
from atoll.hub.store.memory import MemoryStore
from atoll.images.settings import ImageSettings
from atoll.passwords import Passwords
from tests.hub.conftest import AiohttpClient
from tests.hub.hubtest import ADMIN, ADMIN_PASSWORD, CHECKER, TEST_SETTINGS, Api, FakeClock

pytestmark = pytest.mark.integration
CHUNK = 64 * 1024
MAX_SIZE = 4 * 1024 * 1024


async def images_api(
    aiohttp_client: AiohttpClient,
    signing_key: Ed25519PrivateKey,
    settings: HubSettings,
    clock: Callable[[], float] = time.time,
) -> Api:
    """A hub on a memory store with its admin seeded, on ``clock``, images chunked by the
    [images] settings of the environment (set ``ATOLL_IMAGES_*`` first)."""
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    app = build_app(settings, store, signing_key, clock)
    return Api(await aiohttp_client(app), FakeClock())


@pytest.fixture
async def api(
    aiohttp_client: AiohttpClient,
    signing_key: Ed25519PrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Api:
    monkeypatch.setenv("ATOLL_IMAGES_CHUNK_SIZE", str(CHUNK))
    monkeypatch.setenv("ATOLL_IMAGES_MAX_IMAGE_SIZE", str(MAX_SIZE))
    settings = replace(TEST_SETTINGS, data_dir=tmp_path / "hub")
    return await images_api(aiohttp_client, signing_key, settings, FakeClock())


async def members(api: Api) -> tuple[str, str]:
    admin = await api.admin()
    for project in ("a", "b"):
        await api.ok("POST", "/v1/projects", admin, {"name": project})
    return (
        await api.user_with_role("a-member", "a", "member"),
        await api.user_with_role("b-member", "b", "member"),
    )


def raw_bytes(n: int, seed: int = 1) -> bytes:
    return bytes((i * 7 + seed) % 251 for i in range(n))


async def create(api: Api, token: str, **body: Any) -> dict[str, Any]:
    body = {"name": "img", "disk_format": "raw", **body}
    status, data, _ = await api.call("POST", "/v1/images", token, body)
    assert status == 201, data
    return dict(data)


async def put_file(
    api: Api, token: str, image_id: str, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    resp = await api.client.put(
        f"/v1/images/{image_id}/file",
        data=data,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/octet-stream",
            **(headers or {}),
        },
    )
    body = await resp.json()
    CHECKER.check("PUT", f"/v1/images/{image_id}/file", resp.status, body)
    return resp.status, body


async def download(api: Api, token: str, image_id: str) -> tuple[int, bytes]:
    resp = await api.client.get(
        f"/v1/images/{image_id}/file", headers={"Authorization": f"Bearer {token}"}
    )
    return resp.status, await resp.read()


def stored_chunks(root: Path) -> int:
    return sum(1 for _ in (root / "chunks").rglob("*") if _.is_file())


async def test_upload_download_and_chunks_shared_across_images(api: Api, tmp_path: Path) -> None:
    a, _ = await members(api)
    data = raw_bytes(10 * CHUNK + 512)
    image = await create(api, a, properties={"min_ram": 128})
    sha = hashlib.sha256(data).hexdigest()
    status, body = await put_file(api, a, image["id"], data, {"X-Image-Sha256": sha})
    assert status == 200, body
    assert body["status"] == "active" and body["checksum_sha256"] == sha
    assert body["size"] == len(data) and body["virtual_size"] == len(data)
    assert body["properties"] == {"min_ram": 128}
    status, got = await download(api, a, image["id"])
    assert status == 200 and got == data
    before = stored_chunks(tmp_path / "hub" / "images")
    # a second image sharing its first 10 chunks stores only its own last one
    other = await create(api, a, name="img2")
    status, _ = await put_file(api, a, other["id"], data[: 10 * CHUNK] + b"x" * 99)
    assert status == 200
    assert stored_chunks(tmp_path / "hub" / "images") == before + 1
    manifest = await api.ok("GET", f"/v1/images/{other['id']}/manifest", a)
    assert len(manifest["chunks"]) == 11
    resp = await api.client.get(
        f"/v1/images/{image['id']}/chunks/{manifest['chunks'][0]}",
        headers={"Authorization": f"Bearer {a}"},
    )
    assert resp.status == 200 and await resp.read() == data[:CHUNK]


async def assert_killed(api: Api, token: str, image_id: str, reason: str) -> None:
    shown = await api.ok("GET", f"/v1/images/{image_id}", token)
    assert shown["status"] == "killed" and reason in shown["status_reason"], shown
    assert shown["checksum_sha256"] is None
    status, _ = await download(api, token, image_id)
    assert status == 409
    status, _, _ = await api.call("GET", f"/v1/images/{image_id}/manifest", token)
    assert status == 409


async def test_bad_uploads_leave_a_killed_image_with_no_data(api: Api, tmp_path: Path) -> None:
    a, _ = await members(api)
    data = raw_bytes(3 * CHUNK)
    image = await create(api, a)
    status, body = await put_file(api, a, image["id"], data, {"X-Image-Sha256": "0" * 64})
    assert status == 400 and body["error"]["code"] == "checksum_mismatch", body
    await assert_killed(api, a, image["id"], "checksum")
    # a killed image takes a good upload again
    status, body = await put_file(api, a, image["id"], data)
    assert status == 200 and body["status"] == "active"
    status, body = await put_file(api, a, image["id"], data)
    assert status == 409, body

    qcow = await create(api, a, disk_format="qcow2")
    status, body = await put_file(api, a, qcow["id"], data)
    assert status == 400 and body["error"]["code"] == "image_rejected", body
    await assert_killed(api, a, qcow["id"], "declared qcow2 but the content is raw")

    big = await create(api, a)
    status, body = await put_file(api, a, big["id"], b"\1" * (MAX_SIZE + 1))
    assert status == 413, body
    await assert_killed(api, a, big["id"], "too large")

    status, body, _ = await api.call("POST", "/v1/images", a, {"name": "x", "disk_format": "vmdk"})
    assert status == 400 and body["error"]["problems"][0]["where"] == "body.disk_format"
    listed = await api.ok("GET", "/v1/images?status=active", a)
    assert [i["id"] for i in listed["items"]] == [image["id"]]
    # the refused uploads' chunks go at the next gc (after its grace); the image's stay
    app = api.client.app
    assert app is not None
    orphan = await create(api, a)
    status, _ = await put_file(
        api, a, orphan["id"], raw_bytes(2 * CHUNK, 9), {"X-Image-Sha256": "1" * 64}
    )
    assert status == 400
    assert stored_chunks(tmp_path / "hub" / "images") == 5
    await app[FILES].gc(grace_seconds=0)
    assert stored_chunks(tmp_path / "hub" / "images") == 3
    status, got = await download(api, a, image["id"])
    assert status == 200 and got == data


async def test_backing_file_qcow2_is_refused_with_that_reason(api: Api, tmp_path: Path) -> None:
    a, _ = await members(api)
    path = tmp_path / "evil.qcow2"
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw"]
    await asyncio.to_thread(subprocess.run, [*argv, str(path), "1M"], check=True)
    image = await create(api, a, disk_format="qcow2")
    status, body = await put_file(api, a, image["id"], path.read_bytes())
    assert status == 400, body
    assert "backing" in str(body["error"]).lower()
    await assert_killed(api, a, image["id"], "")


async def test_truncated_upload_is_killed(api: Api) -> None:
    a, _ = await members(api)
    image = await create(api, a)
    server = api.client.server
    _reader, writer = await asyncio.open_connection(server.host, server.port)
    head = (
        f"PUT /v1/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {a}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {4 * CHUNK}\r\n\r\n"
    )
    writer.write(head.encode() + raw_bytes(CHUNK + 5))
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    for _ in range(100):
        shown = await api.ok("GET", f"/v1/images/{image['id']}", a)
        if shown["status"] != "saving":
            break
        await asyncio.sleep(0.05)
    await assert_killed(api, a, image["id"], "")


async def test_project_isolation_and_public_images(api: Api) -> None:
    a, b = await members(api)
    private_b = await create(api, b, name="secret")
    status, _, _ = await api.call("GET", f"/v1/images/{private_b['id']}", a)
    assert status == 404
    status, _ = await download(api, a, private_b["id"])
    assert status == 404
    status, _, _ = await api.call("DELETE", f"/v1/images/{private_b['id']}", a)
    assert status == 404
    status, _, _ = await api.call(
        "POST", "/v1/images", b, {"name": "p", "disk_format": "raw", "visibility": "public"}
    )
    assert status == 403  # members cannot publish
    admin = await api.admin()
    unasked = await create(api, admin, name="admins-own")
    assert unasked["visibility"] == "private"  # an admin's upload is private unless asked
    public = await create(api, admin, name="shared", visibility="public")
    assert public["visibility"] == "public"
    names = {i["name"] for i in (await api.ok("GET", "/v1/images", a))["items"]}
    assert names == {"shared"}
    status, _, _ = await api.call("DELETE", f"/v1/images/{public['id']}", a)
    assert status == 403


async def test_an_image_in_use_cannot_be_deleted(api: Api) -> None:
    a, _ = await members(api)
    kernel = await create(api, a, name="k", disk_format="aki")
    await put_file(api, a, kernel["id"], raw_bytes(1000))
    status, body, _ = await api.call(
        "POST",
        "/v1/images",
        a,
        {"name": "x", "disk_format": "raw", "properties": {"kernel_id": "f" * 32}},
    )
    assert status == 400 and body["error"]["problems"][0]["where"] == "body.properties.kernel_id"
    vm = await create(api, a, name="vm", properties={"kernel_id": kernel["id"]})
    status, body, _ = await api.call("DELETE", f"/v1/images/{kernel['id']}", a)
    assert status == 409 and vm["id"] in body["error"]["message"]
    await api.ok("DELETE", f"/v1/images/{vm['id']}", a)
    package = {"id": "p1", "project": "a", "softwareImages": [{"catalogImage": kernel["id"]}]}
    await api.store.put("vnf_package", "p1", package)
    status, body, _ = await api.call("DELETE", f"/v1/images/{kernel['id']}", a)
    assert status == 409 and "VNF package p1" in body["error"]["message"]
    await api.store.delete("vnf_package", "p1")
    await api.ok("DELETE", f"/v1/images/{kernel['id']}", a)
    status, _, _ = await api.call("GET", f"/v1/images/{kernel['id']}", a)
    assert status == 404


async def test_prestage_records_transfers_the_site_reports_on(api: Api) -> None:
    a, b = await members(api)
    admin = await api.admin()
    await api.ok("POST", "/v1/sites", admin, {"name": "edge-1"})
    image = await create(api, a)
    status, body, _ = await api.call(
        "POST", f"/v1/images/{image['id']}/prestage", a, {"sites": ["edge-1"]}
    )
    assert status == 409, body  # queued: nothing to pull yet
    await put_file(api, a, image["id"], raw_bytes(2 * CHUNK))
    status, body, _ = await api.call(
        "POST", f"/v1/images/{image['id']}/prestage", a, {"sites": ["edge-1", "nowhere"]}
    )
    assert status == 400 and "nowhere" in str(body)
    body = await api.ok("POST", f"/v1/images/{image['id']}/prestage", a, {"sites": ["edge-1"]})
    assert body["transfers"][0]["state"] == "pending"
    # the site's identity: a user with a system role (member may report progress)
    await api.ok("POST", "/v1/users", admin, {"name": "site-edge-1", "password": "site-pass-1"})
    await api.ok(
        "POST",
        "/v1/role_assignments",
        admin,
        {"user": "site-edge-1", "system": True, "role": "member"},
    )
    site = await api.token("site-edge-1", "site-pass-1")
    pending = await api.ok("GET", "/v1/sites/edge-1/image_transfers?state=pending", site)
    assert [t["image_id"] for t in pending["items"]] == [image["id"]]
    path = f"/v1/sites/edge-1/image_transfers/{image['id']}"
    done = {"state": "done", "bytes_done": 2 * CHUNK, "bytes_total": 2 * CHUNK}
    status, _, _ = await api.call("PATCH", path, a, done)
    assert status == 403  # a project member cannot report for a site
    await api.ok("PATCH", path, site, done)
    seen = await api.ok("GET", f"/v1/image_transfers?image_id={image['id']}", a)
    assert [(t["site"], t["state"], t["bytes_done"]) for t in seen["items"]] == [
        ("edge-1", "done", 2 * CHUNK)
    ]
    assert (await api.ok("GET", "/v1/image_transfers", b))["items"] == []  # not b's image
    assert (await api.ok("GET", "/v1/sites/edge-1/image_transfers?state=pending", site))[
        "items"
    ] == []


async def test_an_upload_the_hub_was_receiving_when_it_stopped_is_killed(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    value: dict[str, Any] = {
        "id": "e" * 32,
        "name": "cut",
        "project": None,
        "visibility": "public",
        "disk_format": "raw",
        "status": "saving",
        "properties": {},
    }
    await store.put("image", "e" * 32, value)
    settings = replace(TEST_SETTINGS, data_dir=tmp_path / "hub")
    api = Api(await aiohttp_client(build_app(settings, store, signing_key)), FakeClock())
    shown = await api.ok("GET", f"/v1/images/{'e' * 32}", await api.admin())
    assert shown["status"] == "killed" and "restarted" in shown["status_reason"]


async def test_the_periodic_scrub_finds_a_corrupt_chunk_and_a_later_one_sees_it_repaired(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    settings = replace(TEST_SETTINGS, data_dir=tmp_path / "hub")
    images = ImageSettings(chunk_size=CHUNK, verify_on_serve=0.0, scrub_interval=0.2)
    app = build_app(settings, store, signing_key, FakeClock(), image_settings=images)
    api = Api(await aiohttp_client(app), FakeClock())
    admin = await api.admin()
    data = os.urandom(3 * CHUNK)
    image = await create(api, admin)
    assert (await put_file(api, admin, image["id"], data))[0] == 200
    digest = hashlib.sha256(data[CHUNK : 2 * CHUNK]).hexdigest()
    path = tmp_path / "hub" / "images" / "chunks" / digest[:2] / digest
    stored = path.read_bytes()
    path.write_bytes(bytes([stored[0] ^ 0xFF]) + stored[1:])  # b"\0" would miss 1 in 256

    async def reason() -> str:
        return str((await api.ok("GET", f"/v1/images/{image['id']}", admin))["status_reason"])

    async def until(check: Callable[[str], bool]) -> str:
        for _ in range(300):  # no request serves the chunk: only the scrub loop can see it
            if check(text := await reason()):
                return text
            await asyncio.sleep(0.1)
        return text

    assert "damaged" in await until(lambda r: "damaged" in r)
    assert (tmp_path / "hub" / "images" / "quarantine" / digest).is_file()
    # the same content as another image stores the chunk again; the next scrub clears the mark
    again = await create(api, admin, name="same-content")
    assert (await put_file(api, admin, again["id"], data))[0] == 200
    assert await until(lambda r: r == "") == ""
    assert await download(api, admin, image["id"]) == (200, data)


async def test_images_uploaded_before_sha512_was_recorded_get_it_at_start(
    aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    store = MemoryStore()
    await seed_admin(store, ADMIN, Passwords(1, 8, 1).hash_now(ADMIN_PASSWORD))
    settings = replace(TEST_SETTINGS, data_dir=tmp_path / "hub")
    images = ImageSettings(chunk_size=CHUNK)
    api = Api(
        await aiohttp_client(build_app(settings, store, signing_key, image_settings=images)),
        FakeClock(),
    )
    admin = await api.admin()
    data = os.urandom(3 * CHUNK + 5)
    image = await create(api, admin)
    status, _ = await put_file(api, admin, image["id"], data)
    assert status == 200
    assert await recorded_sha512(api, admin, image["id"]) == hashlib.sha512(data).hexdigest()
    record = await store.get("image", image["id"])  # as an earlier hub left it
    await store.put("image", image["id"], {**record.value, "checksum_sha512": None})

    again = build_app(settings, store, signing_key, image_settings=images)
    api = Api(await aiohttp_client(again), FakeClock())
    admin = await api.admin()
    assert await recorded_sha512(api, admin, image["id"]) == hashlib.sha512(data).hexdigest()


async def recorded_sha512(api: Api, token: str, image_id: str) -> str | None:
    """The image's ``checksum_sha512`` once the hub has recorded it (None: not in 15 s)."""
    for _ in range(300):
        shown = await api.ok("GET", f"/v1/images/{image_id}", token)
        if shown["checksum_sha512"] is not None:
            return str(shown["checksum_sha512"])
        await asyncio.sleep(0.05)
    return None


async def test_an_upload_answers_with_its_sha256_and_its_sha512_follows_moments_later(
    api: Api,
) -> None:
    admin = await api.admin()
    data = os.urandom(5 * CHUNK + 7)
    image = await create(api, admin)
    status, body = await put_file(api, admin, image["id"], data)
    # the upload took two digests of every byte; the sha-512 is not one of them
    assert status == 200 and body["status"] == "active", body
    assert body["checksum_sha256"] == hashlib.sha256(data).hexdigest()
    assert body["checksum_sha512"] is None
    assert await recorded_sha512(api, admin, image["id"]) == hashlib.sha512(data).hexdigest()
    shown = await api.ok("GET", f"/v1/images/{image['id']}", admin)
    assert shown["status"] == "active" and shown["checksum_sha256"] == body["checksum_sha256"]
