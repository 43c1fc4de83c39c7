"""A client that declares a long body and then stops sending cannot hold an upload forever.

The attacker opens a TLS connection, sends headers with ``Content-Length: 1 MiB`` and 1 KiB
of body, and stalls. After the hub's ``upload_idle_timeout`` the upload is aborted: the image
is ``killed`` with a reason (not stuck in ``saving``), a VNF package goes back to
``CREATED`` with no partial file, and the hub keeps serving everyone else meanwhile.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.security.daemons import RunningHub, running_hub

IDLE = 2
CONFIG = f"""
[hub]
upload_idle_timeout = {IDLE}
"""
WAIT = IDLE + 30  # the deadline a stalled upload must be aborted by (generous: a busy box)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub(tmp_path_factory.mktemp("sec-idle"), config=CONFIG) as running:
        yield running


def _stall(hub: RunningHub, path: str, token: str, content_type: str) -> ssl.SSLSocket:
    """Headers declaring 1 MiB, then 1 KiB of body, then nothing: the connection stays open."""
    sock = hub.put_headers(path, token, content_type, f"Content-Length: {1024 * 1024}", 10)
    sock.sendall(b"\0" * 1024)
    return sock


def _wait_for(check: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_stalled_image_upload_is_killed(hub: RunningHub) -> None:
    image_id = hub.ok("POST", "/v1/images", {"name": "stalled", "disk_format": "raw"})["id"]
    sock = _stall(hub, f"/v1/images/{image_id}/file", hub.token, "application/octet-stream")
    try:
        assert _wait_for(lambda: hub.ok("GET", f"/v1/images/{image_id}")["status"] == "saving")
        assert hub.call("GET", "/v1/images").status == 200  # others are served meanwhile

        def killed() -> dict[str, Any] | None:
            image: dict[str, Any] = hub.ok("GET", f"/v1/images/{image_id}")
            return image if image["status"] == "killed" else None

        image = _wait_for(killed)
        assert image is not None, "the stalled upload was never aborted"
        assert "stalled" in image["status_reason"]
        left = list((hub.data_dir / "images" / "tmp").glob("head-*"))
        assert left == []
    finally:
        sock.close()
    # the image takes a proper upload afterwards
    binary = {"Content-Type": "application/octet-stream"}
    reply = hub.ok("PUT", f"/v1/images/{image_id}/file", raw=b"\1" * 4096, headers=binary)
    assert reply["status"] == "active"


def test_stalled_vnf_package_upload_is_aborted(hub: RunningHub) -> None:
    token = hub.tenant("idle-p", "idle-member", "member")
    package = hub.ok("POST", "/vnfpkgm/v1/vnf_packages", {}, token=token)
    path = f"/vnfpkgm/v1/vnf_packages/{package['id']}"
    sock = _stall(hub, f"{path}/package_content", token, "application/zip")
    try:

        def state() -> str:
            return str(hub.ok("GET", path, token=token)["onboardingState"])

        assert _wait_for(lambda: state() == "PROCESSING")
        assert hub.call("GET", "/v1/images").status == 200
        assert _wait_for(lambda: state() == "CREATED"), "the stalled upload was never aborted"
        assert list((hub.data_dir / "vnf_packages").glob(f"{package['id']}*")) == []
    finally:
        sock.close()
