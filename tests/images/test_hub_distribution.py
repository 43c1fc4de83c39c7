"""Hub image service -> site, end to end over real HTTPS: CLI upload, prestage, the site's pull
loop into a real LocalStorage, progress on the hub, resume after a cut, on-demand pulls."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from atoll import cli
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings
from atoll.site_agent.hub_images import HubImagePuller
from atoll.site_agent.hub_link import HubLink
from tests.images.hub_https import HttpsHub, https_hub, join_site

pytestmark = pytest.mark.integration
MiB = 1 << 20
GiB = 1 << 30


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def sparse_image(path: Path, size: int, data_at: list[int], seed: int = 0) -> Path:
    """A sparse raw image: holes everywhere except a few MiB of data at ``data_at``."""
    with path.open("wb") as fh:
        fh.truncate(size)
        for i, offset in enumerate(data_at):
            fh.seek(offset)
            fh.write(hashlib.sha256(f"{seed}-{i}".encode()).digest() * (MiB // 32))
    return path


async def atoll(
    hub: HttpsHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> Any:
    monkeypatch.setenv("ATOLL_URL", hub.url)
    monkeypatch.setenv("ATOLL_TOKEN", str(hub.admin.token))
    monkeypatch.setenv("ATOLL_CA_FILE", str(hub.ca_file))
    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out) if "json" in argv else out


def puller(link: HubLink, root: Path, **kw: Any) -> tuple[HubImagePuller, LocalStorage]:
    storage = LocalStorage(LocalStorageSettings(root=root / "storage"))
    return HubImagePuller(link, "edge-1", storage, root / "chunks", **kw), storage


async def test_1gib_sparse_image_uploads_prestages_and_lands_byte_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = sparse_image(tmp_path / "big.raw", GiB, [0, 512 * MiB, GiB - 4 * MiB])
    async with https_hub(tmp_path / "hub") as hub:
        link = await join_site(hub, "edge-1", tmp_path / "site-data")
        up = await atoll(
            hub,
            monkeypatch,
            capsys,
            "image",
            "upload",
            str(image),
            "--name",
            "big",
            "--property",
            "min_ram=256",
            "-f",
            "json",
        )
        assert up["status"] == "active" and up["size"] == GiB
        assert up["checksum_sha256"] == sha256_of(image)
        staged = await atoll(
            hub, monkeypatch, capsys, "image", "prestage", "big", "--site", "edge-1", "-f", "json"
        )
        assert [t["state"] for t in staged] == ["pending"]
        site, storage = puller(link, tmp_path / "site")
        assert await site.poll_once() == [up["id"]]
        cached = await storage.get_image(up["id"])
        assert await asyncio.to_thread(sha256_of, cached.path) == up["checksum_sha256"]
        assert cached.path.stat().st_size == GiB
        assert cached.allocated_bytes < 64 * MiB  # the holes stayed holes
        shown = await atoll(hub, monkeypatch, capsys, "image", "show", "big", "-f", "json")
        assert [(t["site"], t["state"], t["bytes_done"]) for t in shown["transfers"]] == [
            ("edge-1", "done", GiB)
        ]
        assert await site.poll_once() == []  # nothing pending any more
        listed = await atoll(
            hub, monkeypatch, capsys, "image", "transfers", "--site", "edge-1", "-f", "json"
        )
        assert [t["state"] for t in listed] == ["done"]


async def test_a_cut_pull_resumes_from_the_chunks_it_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATOLL_IMAGES_CHUNK_SIZE", str(256 * 1024))
    image = tmp_path / "small.raw"
    image.write_bytes(os.urandom(8 * MiB))  # 32 distinct chunks
    async with https_hub(tmp_path / "hub") as hub:
        link = await join_site(hub, "edge-1", tmp_path / "site-data")
        up = await atoll(
            hub, monkeypatch, capsys, "image", "upload", str(image), "--name", "small", "-f", "json"
        )
        out = tmp_path / "downloaded.raw"
        said = await atoll(hub, monkeypatch, capsys, "image", "download", "small", "-o", str(out))
        assert up["checksum_sha256"] in said and out.read_bytes() == image.read_bytes()
        # a place that cannot be written to is named as such, not as a failed download
        nowhere = tmp_path / "no-such-dir" / "downloaded.raw"
        argv = ["image", "download", "small", "-o", str(nowhere)]
        code = await asyncio.to_thread(cli.main, argv)
        err = capsys.readouterr().err
        assert (
            code == 1
            and err == f"error: cannot write {nowhere}: {nowhere.parent} is not a directory\n"
        )
        needed: set[str] = set()

        async def wanted() -> set[str]:  # what the site's desired servers name
            return needed

        site, storage = puller(
            link, tmp_path / "site", concurrency=1, retries=2, retry_delay=0.01, wanted=wanted
        )
        needed.add(up["id"])
        hub.cut.after = 10
        assert await site.poll_once() == []
        failed = await atoll(hub, monkeypatch, capsys, "image", "transfers", "-f", "json")
        assert [(t["site"], t["state"]) for t in failed] == [("edge-1", "failed")]
        assert failed[0]["error"] and failed[0]["bytes_done"] == 10 * 256 * 1024
        hub.cut.after = None
        partial = storage.incoming_dir / f".{up['id']}.pull.part"
        assert partial.is_file()  # the progress kept: chunks are written once, into place
        # the agent restarts: the storage driver keeps the partial image, the pull resumes
        site, storage = puller(
            link, tmp_path / "site", concurrency=1, retries=2, retry_delay=0.01, wanted=wanted
        )
        assert await site.poll_once() == [up["id"]]
        result = site.pulled[-1]
        assert (result.chunks_fetched, result.chunks_reused) == (22, 10)
        cached = await storage.get_image(up["id"])
        assert cached.path.read_bytes() == image.read_bytes()
        done = await atoll(hub, monkeypatch, capsys, "image", "transfers", "-f", "json")
        assert [(t["state"], t["bytes_done"], t["error"]) for t in done] == [("done", 8 * MiB, "")]
        assert await site.poll_once() == []  # held now: nothing to pull
        # the cache holds the image once, as its file: its chunks are gone from the site
        assert not [p for p in (tmp_path / "site" / "chunks" / "chunks").rglob("*") if p.is_file()]
        # an image sharing 7 of its 8 MiB pulls only the new chunks (the rest come from the file)
        second = tmp_path / "second.raw"
        second.write_bytes(image.read_bytes()[: 7 * MiB] + os.urandom(MiB))
        up2 = await atoll(
            hub,
            monkeypatch,
            capsys,
            "image",
            "upload",
            str(second),
            "--name",
            "second",
            "-f",
            "json",
        )
        needed.add(up2["id"])
        assert await site.poll_once() == [up2["id"]]
        assert (site.pulled[-1].chunks_fetched, site.pulled[-1].chunks_reused) == (4, 28)
        cached = await storage.get_image(up2["id"])
        assert cached.path.read_bytes() == second.read_bytes()


async def test_a_partial_image_is_removed_once_its_image_is_no_longer_to_be_pulled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATOLL_IMAGES_CHUNK_SIZE", str(256 * 1024))
    image = tmp_path / "small.raw"
    image.write_bytes(os.urandom(4 * MiB))
    async with https_hub(tmp_path / "hub") as hub:
        link = await join_site(hub, "edge-1", tmp_path / "site-data")
        up = await atoll(
            hub, monkeypatch, capsys, "image", "upload", str(image), "--name", "small", "-f", "json"
        )
        needed = {up["id"]}

        async def wanted() -> set[str]:
            return needed

        site, storage = puller(link, tmp_path / "site", retries=1, wanted=wanted)
        hub.cut.after = 3
        assert await site.poll_once() == []
        partial = storage.incoming_dir / f".{up['id']}.pull.part"
        assert partial.is_file()
        hub.cut.after = 0  # every chunk request is cut: the pull fails again, its partial stays
        assert await site.poll_once() == [] and partial.is_file()
        needed.clear()  # no server names it any more, and the agent restarts (nothing retried)
        site, storage = puller(link, tmp_path / "site", retries=1, wanted=wanted)
        assert await site.poll_once() == []
        assert not partial.exists()


async def test_cli_links_kernel_and_ramdisk_and_cleans_up_refused_uploads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel, ramdisk, disk = (tmp_path / n for n in ("vmlinuz", "initrd", "disk.raw"))
    for path in (kernel, ramdisk, disk):
        path.write_bytes(os.urandom(64 * 1024))
    async with https_hub(tmp_path / "hub") as hub:
        k = await atoll(
            hub,
            monkeypatch,
            capsys,
            "image",
            "upload",
            str(kernel),
            "--name",
            "k",
            "--disk-format",
            "aki",
            "-f",
            "json",
        )
        r = await atoll(
            hub,
            monkeypatch,
            capsys,
            "image",
            "upload",
            str(ramdisk),
            "--name",
            "r",
            "--disk-format",
            "ari",
            "-f",
            "json",
        )
        vm = await atoll(
            hub,
            monkeypatch,
            capsys,
            "image",
            "upload",
            str(disk),
            "--name",
            "vm",
            "--kernel",
            "k",
            "--ramdisk",
            r["id"],
            "--property",
            "min_ram=64",
            "--property",
            "cmdline=console=ttyS0",
            "-f",
            "json",
        )
        assert vm["properties"] == {
            "kernel_id": k["id"],
            "ramdisk_id": r["id"],
            "min_ram": 64,
            "cmdline": "console=ttyS0",
        }
        monkeypatch.setenv("ATOLL_TOKEN", str(hub.admin.token))
        code = await asyncio.to_thread(cli.main, ["image", "delete", "k"])
        assert code == 1 and "in use" in capsys.readouterr().err
        code = await asyncio.to_thread(
            cli.main, ["image", "upload", str(disk), "--name", "bad", "--disk-format", "qcow2"]
        )
        err = capsys.readouterr().err
        assert code == 1 and "qcow2" in err, err
        listed = await atoll(hub, monkeypatch, capsys, "image", "list", "-f", "json")
        assert sorted(i["name"] for i in listed) == ["k", "r", "vm"]  # no trace of "bad"


async def test_the_site_bandwidth_cap_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "capped.raw"
    image.write_bytes(os.urandom(2 * MiB))
    async with https_hub(tmp_path / "hub") as hub:
        link = await join_site(hub, "edge-1", tmp_path / "site-data")
        up = await atoll(
            hub, monkeypatch, capsys, "image", "upload", str(image), "--name", "c", "-f", "json"
        )
        await atoll(hub, monkeypatch, capsys, "image", "prestage", "c", "--site", "edge-1")
        site, _ = puller(link, tmp_path / "site", bandwidth_bps=2 * MiB)
        start = time.monotonic()
        assert await site.poll_once() == [up["id"]]
        elapsed = time.monotonic() - start
        assert elapsed >= 0.7, elapsed  # 2 MiB at 2 MiB/s, less the bucket's 0.25 s burst


async def test_cli_scrub_shows_a_damaged_image_and_repair_makes_it_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    disk = tmp_path / "disk.raw"
    disk.write_bytes(os.urandom(64 * 1024))
    other = tmp_path / "other.raw"
    other.write_bytes(os.urandom(64 * 1024))
    async with https_hub(tmp_path / "hub") as hub:
        run = functools.partial(atoll, hub, monkeypatch, capsys)
        image = await run("image", "upload", str(disk), "--name", "vm", "-f", "json")
        digest = sha256_of(disk)  # one chunk: the whole file
        chunk = hub.data_dir / "images" / "chunks" / digest[:2] / digest
        data = chunk.read_bytes()  # flip the first byte's bits: writing 0xff changed nothing
        chunk.write_bytes(bytes([data[0] ^ 0xFF]) + data[1:])  # when it was already 0xff
        report = await run("image", "scrub", "-f", "json")
        assert report["corrupt_chunks"] == 1 and report["damaged_images"] == [image["id"]]
        shown = await run("image", "show", "vm", "-f", "json")
        assert "damaged" in shown["status_reason"]
        code = await asyncio.to_thread(cli.main, ["image", "repair", "vm", str(other)])
        assert code == 1 and "checksum" in capsys.readouterr().err  # only its own content
        repaired = await run("image", "repair", "vm", str(disk), "-f", "json")
        assert repaired["status"] == "active" and repaired["status_reason"] == ""
        await run("image", "download", "vm", "-o", str(tmp_path / "back.raw"))
        assert (tmp_path / "back.raw").read_bytes() == disk.read_bytes()
