"""``atoll hub backup`` of a running hub, ``atoll hub restore`` into an empty data dir, and a
second hub served from it: every object is back, image data too, private files are 0600,
and tokens issued before the backup still verify (and revoked ones stay revoked)."""

from __future__ import annotations

import asyncio
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from atoll.hub import backup as hub_backup
from atoll.hub import bootstrap
from atoll.hub.settings import HubSettings
from atoll.hub.store.history import history_id
from atoll.hub.store.sqlite import SQLiteStore
from tests.security.daemons import ATOLL, RunningHub

pytestmark = pytest.mark.integration

LISTS = ["/v1/projects", "/v1/users", "/v1/role_assignments", "/v1/flavors", "/v1/images",
         "/v1/revocations"]  # fmt: skip


def atoll(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ATOLL), *args], capture_output=True, text=True, timeout=120)


def everything(hub: RunningHub) -> dict[str, Any]:
    return {path: hub.ok("GET", path + "?limit=1000")["items"] for path in LISTS}


async def test_a_restored_store_starts_a_new_history(tmp_path: Path) -> None:
    """Its revisions count again from the backup's: sites that applied later ones must not
    take them for this store's (PROTOCOL.md "History")."""
    data_dir = tmp_path / "hub"
    await asyncio.to_thread(bootstrap.init, data_dir, "admin-password-for-backups", [])
    store = SQLiteStore(data_dir / "hub.db")
    try:
        before = await history_id(store)
        assert await history_id(store) == before  # made once
    finally:
        await store.close()
    settings = HubSettings(data_dir=data_dir)
    archive = tmp_path / "hub.tar.gz"
    await asyncio.to_thread(hub_backup.back_up, settings, archive)
    _, said = await asyncio.to_thread(hub_backup.restore, archive, tmp_path / "restored")
    restored = SQLiteStore(tmp_path / "restored" / "hub.db")
    try:
        assert said is not None and said != before
        assert await history_id(restored) == said
    finally:
        await restored.close()
    assert await asyncio.to_thread(_history_of, data_dir / "hub.db") == before  # untouched


def _history_of(path: Path) -> str:
    async def read() -> str:
        store = SQLiteStore(path)
        try:
            return await history_id(store)
        finally:
            await store.close()

    return asyncio.run(read())


def test_backup_then_restore_gives_back_every_object_and_working_tokens(tmp_path: Path) -> None:
    hub = RunningHub.start(tmp_path / "first")
    try:
        hub.ok("POST", "/v1/projects", {"name": "bk"})
        member = hub.tenant("bk", "bk-user")
        credential = hub.ok("POST", "/v1/application_credentials", {"name": "ci"}, token=member)
        hub.ok("POST", "/v1/flavors", {"name": "bk.small", "vcpus": 1, "ram_mb": 256, "disk_gb": 1})
        image = hub.ok("POST", "/v1/images", {"name": "blob", "disk_format": "raw"}, token=member)
        data = bytes(range(256)) * 64
        octets = {"Content-Type": "application/octet-stream"}
        image_file = f"/v1/images/{image['id']}/file"
        hub.ok("PUT", image_file, raw=data, headers=octets, token=member)
        revoked = hub.tenant("bk", "bk-gone")
        hub.ok("DELETE", "/v1/auth/tokens/current", token=revoked)
        before = everything(hub)

        archive = tmp_path / "hub-backup.tar.gz"
        done = atoll("hub", "backup", str(archive), "--data-dir", str(hub.data_dir))
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
        with tarfile.open(archive) as tar:
            names = {Path(n).name for n in tar.getnames()}
        # the live databases as snapshots, not their files (a WAL copied mid-write)
        assert {"hub.db", "telemetry.sqlite"} <= names, names
        assert not any(n.endswith(("-wal", "-shm")) for n in names), names
    finally:
        hub.stop()

    def restore(data_dir: Path) -> None:
        shutil.rmtree(data_dir)  # what `hub init` made: restore wants an empty dir
        data_dir.mkdir()
        done = atoll("hub", "restore", str(archive), "--data-dir", str(data_dir))
        assert done.returncode == 0, done.stderr
        assert "the store starts a new history" in done.stdout

    again = RunningHub.start(tmp_path / "second", before_serve=restore)
    try:
        assert everything(again) == before
        assert again.call("GET", image_file, token=member).raw == data
        mine = again.ok("GET", "/v1/auth/tokens/current", token=member)
        assert (mine["user"], mine["project"]) == ("bk-user", "bk")
        assert again.call("GET", "/v1/auth/tokens/current", token=revoked).status == 401
        secret = {"application_credential_id": credential["id"],
                  "application_credential_secret": credential["secret"]}  # fmt: skip
        assert again.ok("POST", "/v1/auth/tokens", secret, token="")["project"] == "bk"
        for name in ("ca-key.pem", "hub-key.pem", "token-key.pem", "seed.json", "hub.db"):
            assert stat.S_IMODE((again.data_dir / name).stat().st_mode) == 0o600, name
        assert stat.S_IMODE(again.data_dir.stat().st_mode) == 0o700
    finally:
        again.stop()

    refused = atoll("hub", "restore", str(archive), "--data-dir", str(again.data_dir))
    assert refused.returncode != 0 and "not empty" in refused.stderr
