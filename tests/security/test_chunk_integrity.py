"""A corrupted chunk on the hub's disk is never served as good data, and can be repaired.

One flipped byte in a chunk file (bit rot, a bad disk, tampering) must not reach a site or a
user with a clean 200: the chunk route refuses it, a whole-image download is refused or
aborted (the client sees a failure, not a clean end), the chunk is quarantined, the image
shows the damage, and uploading the same content again repairs it.
"""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.daemons import RunningHub, running_hub

CHUNK = 64 * 1024
CONFIG = f"""
[images]
chunk_size = {CHUNK}
verify_on_serve = 1.0
scrub_interval = 0
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub(tmp_path_factory.mktemp("sec-chunks"), config=CONFIG) as running:
        yield running


def _upload(hub: RunningHub, image_id: str, data: bytes) -> dict[str, object]:
    binary = {"Content-Type": "application/octet-stream"}
    reply = hub.ok("PUT", f"/v1/images/{image_id}/file", raw=data, headers=binary, timeout=60)
    assert isinstance(reply, dict)
    return reply


def _image(hub: RunningHub, name: str) -> tuple[str, bytes, list[str]]:
    """An active raw image of 3.5 chunks of random bytes; its id, content and chunk digests."""
    data = os.urandom(3 * CHUNK + CHUNK // 2)
    image_id = hub.ok("POST", "/v1/images", {"name": name, "disk_format": "raw"})["id"]
    assert _upload(hub, image_id, data)["status"] == "active"
    chunks = hub.ok("GET", f"/v1/images/{image_id}/manifest")["chunks"]
    assert len(chunks) == 4
    return image_id, data, chunks


def _chunk_file(hub: RunningHub, digest: str) -> Path:
    return hub.data_dir / "images" / "chunks" / digest[:2] / digest


def _flip_byte(hub: RunningHub, digest: str) -> None:
    path = _chunk_file(hub, digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _download(hub: RunningHub, image_id: str) -> tuple[int, bytes, bool]:
    """(status, body read, whether the body ended cleanly at its Content-Length)."""
    port = int(hub.url.rsplit(":", 1)[1])
    conn = http.client.HTTPSConnection("localhost", port, context=hub.ssl_context, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {hub.token}"}
        conn.request("GET", f"/v1/images/{image_id}/file", headers=headers)
        resp = conn.getresponse()
        try:
            return resp.status, resp.read(), True
        except (http.client.IncompleteRead, ConnectionError) as exc:
            partial = exc.partial if isinstance(exc, http.client.IncompleteRead) else b""
            return resp.status, partial, False
    finally:
        conn.close()


def _quarantined(hub: RunningHub, digest: str) -> bool:
    folder = hub.data_dir / "images" / "quarantine"
    return folder.is_dir() and any(p.name.startswith(digest) for p in folder.iterdir())


def _assert_repaired(hub: RunningHub, image_id: str, data: bytes, digest: str) -> None:
    _upload(hub, image_id, data)  # the same content again
    image = hub.ok("GET", f"/v1/images/{image_id}")
    assert image["status"] == "active"
    assert image["status_reason"] == ""
    chunk = hub.call("GET", f"/v1/images/{image_id}/chunks/{digest}")
    assert chunk.status == 200
    assert status_body_clean(_download(hub, image_id)) == data


def status_body_clean(result: tuple[int, bytes, bool]) -> bytes:
    status, body, clean = result
    assert status == 200 and clean, (status, clean, len(body))
    return body


def test_corrupt_chunk_refused_by_chunk_route_then_repaired(hub: RunningHub) -> None:
    image_id, data, chunks = _image(hub, "rot-chunk")
    _flip_byte(hub, chunks[1])
    reply = hub.call("GET", f"/v1/images/{image_id}/chunks/{chunks[1]}")
    assert reply.status == 503, reply
    assert reply.body["error"]["code"] == "chunk_quarantined"
    assert _quarantined(hub, chunks[1])
    assert not _chunk_file(hub, chunks[1]).exists()
    again = hub.call("GET", f"/v1/images/{image_id}/chunks/{chunks[1]}")
    assert again.status == 503, again  # still refused: quarantined, not served
    image = hub.ok("GET", f"/v1/images/{image_id}")
    assert "damaged" in image["status_reason"]
    assert hub.call("GET", f"/v1/images/{image_id}/chunks/{chunks[0]}").status == 200
    _assert_repaired(hub, image_id, data, chunks[1])


def test_corrupt_chunk_aborts_a_download(hub: RunningHub) -> None:
    image_id, data, chunks = _image(hub, "rot-download")
    _flip_byte(hub, chunks[2])
    status, body, clean = _download(hub, image_id)
    assert not (status == 200 and clean), "a corrupt image was served with a clean 200"
    assert body != data
    assert _quarantined(hub, chunks[2])
    assert "damaged" in hub.ok("GET", f"/v1/images/{image_id}")["status_reason"]
    status, body, clean = _download(hub, image_id)  # refused before any byte now
    assert status == 503
    _assert_repaired(hub, image_id, data, chunks[2])


def test_corrupt_first_chunk_refuses_the_download(hub: RunningHub) -> None:
    image_id, data, chunks = _image(hub, "rot-first")
    _flip_byte(hub, chunks[0])
    status, body, _ = _download(hub, image_id)
    assert status == 503, body[:300]
    assert b"chunk_quarantined" in body
    _assert_repaired(hub, image_id, data, chunks[0])


def test_scrub_quarantines_and_marks_the_image(hub: RunningHub) -> None:
    image_id, data, chunks = _image(hub, "rot-scrub")
    other_id, _, _ = _image(hub, "healthy")
    _flip_byte(hub, chunks[3])
    member = hub.tenant("scrub-p", "scrub-member", "admin")
    assert hub.call("POST", "/v1/images/scrub", {}, token=member).status == 403
    report = hub.ok("POST", "/v1/images/scrub", {})
    assert report["corrupt_chunks"] == 1
    assert report["damaged_images"] == [image_id]
    assert _quarantined(hub, chunks[3])
    image = hub.ok("GET", f"/v1/images/{image_id}")
    assert image["status"] == "active"
    assert "damaged" in image["status_reason"]
    assert hub.ok("GET", f"/v1/images/{other_id}")["status_reason"] == ""
    assert hub.call("GET", f"/v1/images/{image_id}/chunks/{chunks[3]}").status == 503
    _assert_repaired(hub, image_id, data, chunks[3])
    report = hub.ok("POST", "/v1/images/scrub", {})
    assert report["corrupt_chunks"] == 0
    assert report["damaged_images"] == []


def test_repair_must_be_the_same_content(hub: RunningHub) -> None:
    image_id, data, chunks = _image(hub, "rot-wrong-repair")
    _flip_byte(hub, chunks[1])
    assert hub.call("GET", f"/v1/images/{image_id}/chunks/{chunks[1]}").status == 503
    binary = {"Content-Type": "application/octet-stream"}
    other = os.urandom(len(data))
    reply = hub.call("PUT", f"/v1/images/{image_id}/file", raw=other, headers=binary)
    assert reply.status == 400, reply
    image = hub.ok("GET", f"/v1/images/{image_id}")
    assert image["status"] == "active"  # a failed repair does not kill the image
    assert "damaged" in image["status_reason"]
    _assert_repaired(hub, image_id, data, chunks[1])
