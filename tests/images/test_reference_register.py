"""``atoll image build-reference OUT_DIR --register`` against a real hub over HTTPS: the kernel
and initramfs land as linked images (aki -> ari, Glance's ramdisk_id), once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from atoll import cli
from atoll.errors import InvalidInput
from atoll.images.reference.builder import CMDLINE, ReferenceImage
from atoll.images.reference.register import register_reference
from tests.images.hub_https import HttpsHub, https_hub

pytestmark = pytest.mark.integration


async def build_reference(
    hub: HttpsHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    out: Path,
    *extra: str,
) -> dict[str, Any]:
    """The CLI, with the default (cached) build dir: a rebuild is a copy."""
    monkeypatch.setenv("ATOLL_URL", hub.url)
    monkeypatch.setenv("ATOLL_TOKEN", str(hub.admin.token))
    monkeypatch.setenv("ATOLL_CA_FILE", str(hub.ca_file))
    argv = ["image", "build-reference", str(out), "--register", *extra, "-f", "json"]
    code = await asyncio.to_thread(cli.main, argv)
    stdout, err = capsys.readouterr()
    assert code == 0, err
    result: dict[str, Any] = json.loads(stdout)
    return result


async def named(hub: HttpsHub, name: str) -> list[dict[str, Any]]:
    return await asyncio.to_thread(hub.admin.list_all, "/v1/images", {"name": name})


async def test_register_uploads_a_linked_kernel_and_initramfs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with https_hub(tmp_path / "hub") as hub:
        out = await build_reference(hub, monkeypatch, capsys, tmp_path / "ref")
        version = out["kernel_version"]
        assert out["reused"] is False
        kernel = await asyncio.to_thread(hub.admin.get, f"/v1/images/{out['kernel_image_id']}")
        ramdisk = await asyncio.to_thread(hub.admin.get, f"/v1/images/{out['ramdisk_image_id']}")
        assert (kernel["name"], kernel["disk_format"], kernel["status"]) == (
            f"atoll-reference-kernel-{version}",
            "aki",
            "active",
        )
        assert (ramdisk["name"], ramdisk["disk_format"], ramdisk["status"]) == (
            f"atoll-reference-initramfs-{version}",
            "ari",
            "active",
        )
        assert kernel["properties"]["ramdisk_id"] == ramdisk["id"]
        assert kernel["properties"]["cmdline"] == out["cmdline"] == CMDLINE
        for record, name in ((kernel, "vmlinuz"), (ramdisk, "initramfs.img")):
            data = (tmp_path / "ref" / name).read_bytes()
            assert record["checksum_sha256"] == hashlib.sha256(data).hexdigest()
            assert record["size"] == len(data)

        again = await build_reference(hub, monkeypatch, capsys, tmp_path / "again")
        assert again["reused"] is True
        assert (again["kernel_image_id"], again["ramdisk_image_id"]) == (
            kernel["id"],
            ramdisk["id"],
        )
        assert len(await named(hub, kernel["name"])) == 1  # `atoll image show NAME` still works

        other = await build_reference(
            hub, monkeypatch, capsys, tmp_path / "vnf", "--name-prefix", "vnf", "--public"
        )
        shown = await asyncio.to_thread(hub.admin.get, f"/v1/images/{other['kernel_image_id']}")
        assert shown["name"] == f"vnf-kernel-{version}" and shown["visibility"] == "public"
        assert shown["properties"]["ramdisk_id"] == other["ramdisk_image_id"] != ramdisk["id"]


async def test_a_refused_kernel_leaves_no_initramfs_behind(tmp_path: Path) -> None:
    initramfs = tmp_path / "initramfs.img"
    initramfs.write_bytes(b"070701" + bytes(4090))
    kernel = tmp_path / "vmlinuz"  # a qcow2 is no kernel: the hub refuses it as aki
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", str(kernel), "1M"]
    await asyncio.to_thread(subprocess.run, argv, check=True)
    image = ReferenceImage(kernel, initramfs, "0.0-test", ())
    async with https_hub(tmp_path / "hub") as hub:
        with pytest.raises(InvalidInput, match="bad-kernel") as err:
            await asyncio.to_thread(register_reference, hub.admin, image, name_prefix="bad")
        assert "qcow2" in str(err.value.problems)
        assert await named(hub, "bad-initramfs-0.0-test") == []
        assert await named(hub, "bad-kernel-0.0-test") == []
