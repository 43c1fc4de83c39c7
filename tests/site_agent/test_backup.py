"""``atoll site-agent backup`` of a live agent's data dir, ``restore`` into an empty one:
every object and status is back, the hub link and keys too (0600), guest disks are left
out unless asked for, and a damaged or foreign archive is refused."""

from __future__ import annotations

import asyncio
import io
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from atoll import backup
from atoll.errors import ConfigError
from atoll.site_agent.store import LocalStore
from tests.security.daemons import ATOLL
from tests.site_agent.site_harness import lan, make_site


async def atoll(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(ATOLL), *args]
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True)


async def test_backup_then_restore_gives_back_every_object(tmp_path: Path) -> None:
    data = tmp_path / "agent"
    site = await make_site(data)
    hub_dir = data / "hub"
    hub_dir.mkdir(mode=0o700)
    (hub_dir / "site.key").write_text("private")
    (hub_dir / "site.key").chmod(0o600)
    (hub_dir / "ca.pem").write_text("public")
    try:
        await lan(site)
        await site.resources.create_volume({"name": "data", "size_gb": 1})
        body = {"name": "vm", "flavor": "tiny", "image": "cirros", "nics": [{"network": "lan"}]}
        await site.resources.create_server(body)
        await site.converge()
        objects = await site.store.call(site.store.list_objects)
        statuses = await site.store.call(site.store.statuses, "server")
        assert objects and statuses
        archive = tmp_path / "site.tar.gz"
        done = await atoll("site-agent", "backup", str(archive), "--data-dir", str(data))
        assert done.returncode == 0, done.stderr  # while the store is open: a snapshot
    finally:
        await site.close()
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert not [n for n in tar.getnames() if n.startswith("data/storage/")]  # disks stay

    restored = tmp_path / "restored"
    done = await atoll("site-agent", "restore", str(archive), "--data-dir", str(restored))
    assert done.returncode == 0, done.stderr
    store = await LocalStore(restored / "agent.db").open()
    try:
        assert await store.call(store.list_objects) == objects
        assert await store.call(store.statuses, "server") == statuses
    finally:
        await store.close()
    assert (restored / "hub" / "site.key").read_text() == "private"
    for private in (restored / "hub" / "site.key", restored / "agent.db"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE((restored / "hub").stat().st_mode) == 0o700

    again = await atoll("site-agent", "restore", str(archive), "--data-dir", str(restored))
    assert again.returncode != 0 and "not empty" in again.stderr
    with pytest.raises(ConfigError, match="not of a hub"):
        backup.restore(archive, tmp_path / "as-hub", "hub")


def test_a_damaged_archive_is_refused_and_nothing_is_restored(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "key.pem").write_bytes(b"k" * 1000)
    archive = tmp_path / "b.tar.gz"
    backup.backup(data, archive, "hub", [])
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(damaged, "w:gz") as tar:
        for member, content in members:
            if member.name == "data/key.pem":
                content = b"x" + content[1:]
            tar.addfile(member, io.BytesIO(content))
    with pytest.raises(ConfigError, match="checksum"):
        backup.restore(damaged, tmp_path / "out", "hub")
    assert not (tmp_path / "out").exists()
    assert backup.restore(archive, tmp_path / "out", "hub").files == 1
