"""One project's member cannot fill the hub's disk with images or VNF packages.

Before: nothing bounded the bytes a project's images or packages held (only each upload's
size), and a project's uploads in progress were not capped: a member's loop of 64 GiB
uploads filled the hub's disk, for every tenant and the hub's own store. Now a project's
images hold at most ``[hub] image_bytes_limit`` bytes and its packages ``[hub]
vnf_package_bytes_limit`` (counting what uploads in progress have received): an upload
declaring more than the room left is a 403 ``over_limit`` before it is read, one streaming
past it is cut there (the hub answers while the attacker is still sending) and nothing of it
becomes visible; the project's other images stay as they were and another project has its
own room. At most ``[hub] image_uploads_per_project`` of a project's uploads are in progress
at once: one more is a 429 with ``Retry-After``. So for VNF package content (``[hub]
vnf_package_uploads_per_project``; before: only their bytes were bounded, so a member could
hold as many slow uploads open as the hub had connections), answered as SOL005 answers
errors, with a ProblemDetails.
"""

from __future__ import annotations

import hashlib
import http.client
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.security.daemons import Reply, RunningHub, running_hub

MIB = 1024 * 1024
IMAGE_ROOM = 4 * MIB
PACKAGE_ROOM = 1 * MIB
AT_ONCE = 2
CONFIG = f"""[hub]
image_bytes_limit = {IMAGE_ROOM}
vnf_package_bytes_limit = {PACKAGE_ROOM}
image_uploads_per_project = {AT_ONCE}
vnf_package_uploads_per_project = {AT_ONCE}
vnf_package_uri_hosts = ["127.0.0.1:*"]
"""
BINARY = {"Content-Type": "application/octet-stream"}
PACKAGES = "/vnfpkgm/v1/vnf_packages"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub(Path(tmp_path_factory.mktemp("sec-quotas")), config=CONFIG) as running:
        yield running


def _streamed(hub: RunningHub, path: str, token: str, content_type: str, size: int) -> Reply:
    """``size`` bytes sent chunked (no size declared), the body never ended: the answer
    comes while the attacker could go on sending."""
    sock = hub.put_headers(path, token, content_type, "Transfer-Encoding: chunked")
    try:
        block = 64 * 1024
        for _ in range(size // block):
            sock.sendall(b"%x\r\n" % block + secrets.token_bytes(block) + b"\r\n")
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return Reply(answer.status, dict(answer.getheaders()), answer.read())
    finally:
        sock.close()


def _status(hub: RunningHub, image_id: str, token: str) -> str:
    return str(hub.ok("GET", f"/v1/images/{image_id}", token=token)["status"])


def test_a_project_cannot_upload_images_past_its_bytes_limit(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"quo-a-{tag}", f"quo-alice-{tag}")
    bob = hub.tenant(f"quo-b-{tag}", f"quo-bob-{tag}")

    def image(token: str, name: str) -> str:
        body = {"name": name, "disk_format": "raw"}
        return str(hub.ok("POST", "/v1/images", body, token=token)["id"])

    kept = secrets.token_bytes(3 * MIB)
    held = image(alice, "held")
    hub.ok("PUT", f"/v1/images/{held}/file", raw=kept, token=alice, headers=BINARY)
    # declared past the 1 MiB left: refused before a byte is read
    declared = image(alice, "declared")
    refused = hub.call("PUT", f"/v1/images/{declared}/file", raw=bytes(2 * MIB), token=alice,
                       headers=BINARY)  # fmt: skip
    assert refused.status == 403 and refused.body["error"]["code"] == "over_limit", refused
    assert "image_bytes_limit" in refused.message, refused
    assert _status(hub, declared, alice) == "queued"
    # streamed past it: cut there, while the body is still open
    streamed = image(alice, "streamed")
    path = f"/v1/images/{streamed}/file"
    cut = _streamed(hub, path, alice, "application/octet-stream", MIB + 256 * 1024)
    assert cut.status == 403 and cut.body["error"]["code"] == "over_limit", cut
    shown = hub.ok("GET", f"/v1/images/{streamed}", token=alice)
    assert shown["status"] == "killed" and "image_bytes_limit" in shown["status_reason"]
    assert hub.call("GET", f"{path}", token=alice).status == 409  # no data to download
    # the project's image is untouched
    assert _status(hub, held, alice) == "active"
    got = hub.call("GET", f"/v1/images/{held}/file", token=alice)
    assert got.status == 200 and hashlib.sha256(got.raw).digest() == hashlib.sha256(kept).digest()
    # another project has its own room
    other = image(bob, "other")
    hub.ok("PUT", f"/v1/images/{other}/file", raw=bytes(3 * MIB), token=bob, headers=BINARY)
    # and a delete makes room again
    hub.ok("DELETE", f"/v1/images/{held}", token=alice)
    hub.ok("PUT", f"/v1/images/{declared}/file", raw=bytes(2 * MIB), token=alice,
           headers=BINARY)  # fmt: skip


def test_a_project_cannot_hold_more_uploads_open_than_its_limit(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"quo-c-{tag}", f"quo-carol-{tag}")
    bob = hub.tenant(f"quo-d-{tag}", f"quo-dave-{tag}")
    body = {"name": "slow", "disk_format": "raw"}
    images = [hub.ok("POST", "/v1/images", body, token=alice)["id"] for _ in range(AT_ONCE + 1)]
    with ExitStack() as held:
        for image_id in images[:AT_ONCE]:
            path = f"/v1/images/{image_id}/file"
            sock = hub.put_headers(path, alice, BINARY["Content-Type"], f"Content-Length: {MIB}")
            held.callback(sock.close)
            sock.sendall(bytes(1024))
        for image_id in images[:AT_ONCE]:
            for _ in range(200):
                if _status(hub, image_id, alice) == "saving":
                    break
                time.sleep(0.05)
            assert _status(hub, image_id, alice) == "saving"
        path = f"/v1/images/{images[-1]}/file"
        refused = hub.call("PUT", path, raw=bytes(1024), token=alice, headers=BINARY)
        assert refused.status == 429, refused
        assert int(refused.headers.get("Retry-After", "0")) >= 1
        assert "image_uploads_per_project" in refused.message, refused
        assert _status(hub, images[-1], alice) == "queued"
        other = hub.ok("POST", "/v1/images", body, token=bob)["id"]  # another project's own
        hub.ok("PUT", f"/v1/images/{other}/file", raw=bytes(1024), token=bob, headers=BINARY)


def test_a_project_cannot_upload_package_content_past_its_bytes_limit(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"quo-e-{tag}", f"quo-erin-{tag}")
    bob = hub.tenant(f"quo-f-{tag}", f"quo-frank-{tag}")
    zipped = {"Content-Type": "application/zip"}

    def package(token: str) -> str:
        return str(hub.ok("POST", PACKAGES, {}, token=token)["id"])

    first = package(alice)
    hub.ok(
        "PUT",
        f"{PACKAGES}/{first}/package_content",
        raw=bytes(768 * 1024),
        token=alice,
        headers=zipped,
    )  # fmt: skip (not a CSAR: onboarding fails, the content stays)
    second = package(alice)
    path = f"{PACKAGES}/{second}/package_content"
    refused = hub.call("PUT", path, raw=bytes(512 * 1024), token=alice, headers=zipped)
    assert refused.status == 403 and "vnf_package_bytes_limit" in refused.message, refused
    cut = _streamed(hub, path, alice, "application/zip", 512 * 1024)
    assert cut.status == 403 and "vnf_package_bytes_limit" in cut.message, cut
    assert hub.ok("GET", f"{PACKAGES}/{second}", token=alice)["onboardingState"] == "CREATED"
    theirs = package(bob)  # another project's own room
    hub.ok("PUT", f"{PACKAGES}/{theirs}/package_content", raw=bytes(768 * 1024), token=bob,
           headers=zipped)  # fmt: skip


def test_a_project_cannot_hold_more_package_uploads_open_than_its_limit(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    alice = hub.tenant(f"quo-g-{tag}", f"quo-gina-{tag}")
    bob = hub.tenant(f"quo-h-{tag}", f"quo-hank-{tag}")
    packages = [hub.ok("POST", PACKAGES, {}, token=alice)["id"] for _ in range(AT_ONCE + 2)]

    def state(package_id: str) -> str:
        return str(hub.ok("GET", f"{PACKAGES}/{package_id}", token=alice)["onboardingState"])

    with ExitStack() as held:
        for package_id in packages[:AT_ONCE]:  # slow uploads, well inside the bytes limit
            path = f"{PACKAGES}/{package_id}/package_content"
            sock = hub.put_headers(path, alice, "application/zip", "Content-Length: 65536")
            held.callback(sock.close)
            sock.sendall(bytes(1024))
        for package_id in packages[:AT_ONCE]:
            for _ in range(200):
                if state(package_id) == "PROCESSING":
                    break
                time.sleep(0.05)
            assert state(package_id) == "PROCESSING"
        put = f"{PACKAGES}/{packages[AT_ONCE]}/package_content"
        zipped = {"Content-Type": "application/zip"}
        refused = hub.call("PUT", put, raw=bytes(1024), token=alice, headers=zipped)
        fetch = f"{PACKAGES}/{packages[AT_ONCE + 1]}/package_content/upload_from_uri"
        uri = {"addressInformation": "http://127.0.0.1:9/package.zip"}
        fetched = hub.call("POST", fetch, uri, token=alice)
        for answer in (refused, fetched):
            assert answer.status == 429, answer
            assert int(answer.headers.get("Retry-After", "0")) >= 1
            assert answer.headers["Content-Type"].startswith("application/problem+json")
            assert answer.body["status"] == 429 and "error" not in answer.body, answer
            assert "vnf_package_uploads_per_project" in answer.body["detail"], answer
        assert state(packages[AT_ONCE]) == state(packages[AT_ONCE + 1]) == "CREATED"
        theirs = hub.ok("POST", PACKAGES, {}, token=bob)["id"]  # another project's own
        hub.ok("PUT", f"{PACKAGES}/{theirs}/package_content", raw=bytes(1024), token=bob,
               headers=zipped)  # fmt: skip
