"""Image uploads at a site whose qcow2 header lies: refused as the client's error, and the
site reports only what it stored and checked.

A qcow2 header qemu does not read (version 0, 4) or claiming an absurd virtual size (2^62)
is a bad upload: ``400 invalid_storage`` saying what is wrong, never ``500`` (it would set
off the operator's 5xx alerting), and never with the agent's storage path in the answer.
Version 0 is the subtle one: qemu-img takes the file for raw while a header parser sees a
16 MiB qcow2, so the site must not keep it under either name. What an accepted image is
reported as (format, virtual size) is what qemu-img reads in the file the site keeps.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.security.daemons import Reply, RunningSite

MiB = 1 << 20


def _qcow2(tmp_path: Path, name: str) -> bytearray:
    path = tmp_path / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    return bytearray(path.read_bytes())


def _lying(tmp_path: Path, name: str, offset: int, value: bytes) -> Path:
    """A fresh 16 MiB qcow2 with ``value`` written over its header at ``offset``."""
    data = _qcow2(tmp_path, name)
    data[offset : offset + len(value)] = value
    path = tmp_path / f"{name}.img"
    path.write_bytes(data)
    return path


def _no_host_path(site: RunningSite, reply: Reply) -> None:
    text = reply.raw.decode(errors="replace")
    for leak in (str(site.data_dir), str(site.data_dir / "storage"), "/storage/tmp/"):
        assert leak not in text, reply


def _stored(site: RunningSite) -> dict[str, Path]:
    images = site.data_dir / "storage" / "images"
    return {p.stem: p for p in images.iterdir() if p.suffix in (".qcow2", ".raw")}


CASES = [
    pytest.param("fmt-v4", 4, (4).to_bytes(4, "big"), "version 4", id="version-4"),
    pytest.param("fmt-v0", 4, (0).to_bytes(4, "big"), "version 0", id="version-0-read-as-raw"),
    pytest.param("fmt-huge", 24, (1 << 62).to_bytes(8, "big"), str(1 << 62), id="size-2^62"),
]


@pytest.mark.parametrize(("image_id", "offset", "value", "reason"), CASES)
def test_a_lying_qcow2_header_is_a_bad_request_without_host_paths(
    site: RunningSite, tmp_path: Path, image_id: str, offset: int, value: bytes, reason: str
) -> None:
    reply = site.upload_image(image_id, _lying(tmp_path, image_id, offset, value))
    assert reply.status == 400, reply
    error = reply.body["error"]
    assert error["code"] == "invalid_storage", reply
    said = " ".join([error["message"], *(p["what"] for p in error.get("problems", []))])
    assert image_id in error["message"] and reason in said, reply
    _no_host_path(site, reply)

    assert site.call("GET", f"/v1/images/{image_id}").status == 404
    assert image_id not in _stored(site), "refused, so not kept under any format"
    assert not list((site.data_dir / "storage" / "tmp").iterdir())
    server = site.call("POST", "/v1/servers", {"name": image_id, "flavor": "tiny",
                                               "image": image_id})  # fmt: skip
    assert server.status in (400, 404), server
    _no_host_path(site, server)


def test_what_is_reported_is_what_was_stored_and_checked(site: RunningSite, tmp_path: Path) -> None:
    qcow2 = tmp_path / "fmt-good.qcow2"
    qcow2.write_bytes(_qcow2(tmp_path, "good"))
    raw = tmp_path / "fmt-raw.raw"
    raw.write_bytes(b"QFI" + b"\0" * (MiB - 3))  # almost the magic: raw, as qemu-img says
    for image_id, path in (("fmt-good", qcow2), ("fmt-raw", raw)):
        assert site.upload_image(image_id, path).status == 201
        shown = site.ok("GET", f"/v1/images/{image_id}")["image"]
        kept = _stored(site)[image_id]
        info = json.loads(
            subprocess.run(
                ["qemu-img", "info", "-U", "--output=json", str(kept)],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        assert kept.suffix == f".{shown['format']}" and shown["format"] == info["format"]
        expected = info["virtual-size"] if info["format"] == "qcow2" else kept.stat().st_size
        assert shown["virtual_size"] == expected, shown
