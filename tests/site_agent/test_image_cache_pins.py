"""The site's image cache cap, as the agent drives it: pulls from a real hub (HTTPS) and the
local API's catalog evict the least recently used image, never one a desired server names."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atoll import cli
from atoll.errors import PayloadTooLarge
from atoll.site_agent.catalog import StorageCatalog, server_images
from atoll.site_agent.drivers.storage.errors import ImageCacheFull
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings
from atoll.site_agent.hub_images import HubImagePuller
from tests.images.hub_https import HttpsHub, https_hub, join_site
from tests.site_agent.test_hub_images import Objects, Server

pytestmark = pytest.mark.integration  # qemu-img, and a real hub over HTTPS
MiB = 1 << 20
GiB = 1 << 30
CAP = 2 * MiB + MiB // 2  # two 1 MiB images


def capped_storage(root: Path) -> LocalStorage:
    return LocalStorage(LocalStorageSettings(root=root, image_cache_max_gb=CAP / GiB))


def one_mib(path: Path) -> tuple[Path, str]:
    data = os.urandom(MiB)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def test_local_api_adds_keep_the_images_servers_name(tmp_path: Path) -> None:
    storage = capped_storage(tmp_path / "storage")
    servers = Objects([])
    catalog = StorageCatalog(storage, pinned=server_images(servers))
    await catalog.add_image("kernel", *one_mib(tmp_path / "k"))
    await catalog.add_image("other", *one_mib(tmp_path / "o"))
    servers.servers = [Server({"kernel": "kernel", "image": "not-here-yet"})]
    await catalog.add_image("new", *one_mib(tmp_path / "n"))  # kernel is oldest, but named
    assert sorted(i.id for i in await catalog.list_images()) == ["kernel", "new"]
    servers.servers.append(Server({"image": "new"}))
    with pytest.raises(ImageCacheFull, match=f"cap of {CAP} bytes"):
        await catalog.add_image("third", *one_mib(tmp_path / "t"))
    assert sorted(i.id for i in await catalog.list_images()) == ["kernel", "new"]


async def test_local_uploads_stop_at_the_cap(tmp_path: Path) -> None:
    catalog = StorageCatalog(capped_storage(tmp_path / "storage"))

    async def chunks(total: int) -> AsyncIterator[bytes]:
        for _ in range(total // MiB):
            yield bytes(MiB)

    with pytest.raises(PayloadTooLarge, match=f"cap of {CAP} bytes"):
        await catalog.upload("huge", chunks(3 * MiB), hashlib.sha256(bytes(3 * MiB)).hexdigest())
    assert not list(catalog.storage.incoming_dir.iterdir())  # nothing left staged
    image = await catalog.upload(
        "fits", chunks(2 * MiB), hashlib.sha256(bytes(2 * MiB)).hexdigest()
    )
    assert image.size <= 2 * MiB + 65536 and [i.id for i in await catalog.list_images()] == ["fits"]


async def upload(
    hub: HttpsHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], path: Path
) -> str:
    monkeypatch.setenv("ATOLL_URL", hub.url)
    monkeypatch.setenv("ATOLL_TOKEN", str(hub.admin.token))
    monkeypatch.setenv("ATOLL_CA_FILE", str(hub.ca_file))
    argv = ["image", "upload", str(path), "--name", path.name, "-f", "json"]
    code = await asyncio.to_thread(cli.main, argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return str(json.loads(out)["id"])


async def test_pulls_from_the_hub_evict_lru_but_never_an_image_servers_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ("a", "b", "c", "d")
    async with https_hub(tmp_path / "hub") as hub:
        link = await join_site(hub, "edge-1", tmp_path / "site-data")
        ids = {n: await upload(hub, monkeypatch, capsys, one_mib(tmp_path / n)[0]) for n in names}
        storage = capped_storage(tmp_path / "site" / "storage")
        servers = Objects([Server({"image": ids["a"]})])
        site = HubImagePuller(
            link, "edge-1", storage, tmp_path / "site" / "chunks", wanted=server_images(servers)
        )

        async def prestage(name: str) -> list[str]:
            body = {"sites": ["edge-1"]}
            await asyncio.to_thread(hub.admin.post, f"/v1/images/{ids[name]}/prestage", body)
            return await site.poll_once()

        async def cached() -> list[str]:
            by_id = {v: k for k, v in ids.items()}
            return sorted(by_id[i.image_id] for i in await storage.list_images())

        assert await site.poll_once() == [ids["a"]]  # a server names a: pulled
        assert await prestage("b") == [ids["b"]]
        assert await prestage("c") == [ids["c"]]  # a is the oldest, but in use: b goes
        assert await cached() == ["a", "c"]
        servers.servers.append(Server({"kernel": ids["c"]}))
        assert await prestage("d") == []  # a and c in use: no room, nothing evicted
        assert await cached() == ["a", "c"]
        transfers = await asyncio.to_thread(
            hub.admin.list_all, "/v1/image_transfers", {"image_id": ids["d"]}
        )
        assert [t["state"] for t in transfers] == ["failed"]
        assert f"cap of {CAP} bytes" in transfers[0]["error"]
        assert list(storage.incoming_dir.iterdir()) == []  # the pulled file did not linger
