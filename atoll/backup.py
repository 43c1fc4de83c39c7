"""Backing a daemon's data directory up into one file, and restoring it into an empty one.

The hub and the site agent use the same archive (``atoll hub backup``/``restore``,
``atoll site-agent backup``/``restore``): a gzipped tar holding

- ``data/<path>``: every regular file of the data directory, with its mode (private keys,
  databases and the like are 0600), except the paths the component leaves out (a site's
  guest disks, caches). SQLite databases are copied with SQLite's online backup, so a
  daemon may keep running: the copy is one consistent snapshot (their ``-wal``/``-shm``
  files are not copied; the snapshot has everything in them).
- ``atoll-backup.json``: the manifest, ``{"format", "component", "version", "created_at",
  "files": {path: {"sha256", "size", "mode"}}}``.

The archive itself is written 0600: it holds the private keys. A restore refuses a data
directory that is not empty, an archive of another component, a member outside ``data/``
or not in the manifest, and a file whose checksum differs; it extracts next to the target
and moves the result into place only once everything checked out, with directories 0700.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from atoll import __version__
from atoll.errors import ConfigError, Conflict
from atoll.private_files import DIR_MODE, FILE_MODE
from atoll.timestamps import now_iso

FORMAT = 1
MANIFEST = "atoll-backup.json"
DATA = "data"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Summary:
    component: str
    files: int
    bytes: int


class _Hashing:
    """A reader that hashes what passes through it (so each file is read once)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.digest.update(data)
        return data


def _skipped(path: Path, databases: set[Path], leave_out: list[Path]) -> bool:
    for db in databases:
        if path == db or (path.parent == db.parent and path.name.startswith(db.name + "-")):
            return True  # the database (copied by snapshot) and its -wal/-shm/-journal
    return any(path == x or x in path.parents for x in leave_out)


def _files(data_dir: Path, databases: set[Path], leave_out: list[Path]) -> Iterator[Path]:
    for root, dirs, names in os.walk(data_dir):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if stat.S_ISREG(path.lstat().st_mode) and not _skipped(path, databases, leave_out):
                yield path


def _add(tar: tarfile.TarFile, source: Path, name: str, mode: int) -> dict[str, Any]:
    info = tarfile.TarInfo(f"{DATA}/{name}")
    info.size, info.mode, info.mtime = source.stat().st_size, mode, int(time.time())
    with source.open("rb") as fh:
        reader = _Hashing(fh)
        tar.addfile(info, reader)  # read() is all tarfile calls
    return {"sha256": reader.digest.hexdigest(), "size": info.size, "mode": mode}


def backup(
    data_dir: Path,
    archive: Path,
    component: str,
    databases: Iterable[Path],
    leave_out: Iterable[Path] = (),
) -> Summary:
    """Write the backup of ``data_dir`` to ``archive`` (replaced atomically, mode 0600)."""
    if not data_dir.is_dir():
        raise ConfigError(f"{data_dir} is not a data directory")
    dbs = {d for d in databases if d.exists()}
    files: dict[str, Any] = {}
    archive.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{archive.name}.", dir=archive.parent)
    partial = Path(name)
    skip = [*leave_out, archive, partial]
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w:gz") as tar:
            for path in _files(data_dir, dbs, skip):
                name = path.relative_to(data_dir).as_posix()
                files[name] = _add(tar, path, name, stat.S_IMODE(path.stat().st_mode))
            with tempfile.TemporaryDirectory() as staging:
                for db in sorted(dbs):
                    copy = Path(staging) / db.name
                    _snapshot(db, copy)
                    files[db.relative_to(data_dir).as_posix()] = _add(
                        tar, copy, db.relative_to(data_dir).as_posix(), FILE_MODE
                    )
            manifest = {
                "format": FORMAT,
                "component": component,
                "version": __version__,
                "created_at": now_iso(),
                "files": files,
            }
            body = json.dumps(manifest, indent=1, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(body), FILE_MODE, int(time.time())
            tar.addfile(info, io.BytesIO(body))
        partial.replace(archive)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    return Summary(component, len(files), sum(f["size"] for f in files.values()))


def _snapshot(db: Path, copy: Path) -> None:
    """A consistent copy of a live SQLite database (SQLite's online backup)."""
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot copy the database {db}: {exc}") from exc
    finally:
        target.close()
        source.close()


def read_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest: dict[str, Any] = json.loads(member.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise ConfigError(f"{archive} is not an Atoll backup: {exc}") from exc
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise ConfigError(f"{archive} is a backup in a format this version cannot read")
    return manifest


def restore(archive: Path, data_dir: Path, component: str) -> Summary:
    """Restore ``archive`` (a backup of ``component``) into ``data_dir``, which must be empty
    or not exist yet."""
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise Conflict(f"{data_dir} is not empty: restore into a new or empty directory")
    manifest = read_manifest(archive)
    if manifest.get("component") != component:
        raise ConfigError(
            f"{archive} is a backup of a {manifest.get('component')}, not of a {component}"
        )
    files: dict[str, Any] = manifest["files"]
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    try:
        _extract(archive, staging, files)
        for root, dirs, _ in os.walk(staging):
            for name in dirs:
                (Path(root) / name).chmod(DIR_MODE)
        restored = staging / DATA
        restored.mkdir(exist_ok=True)  # a backup of an empty data dir has no member under it
        if data_dir.exists():  # empty (checked above), and maybe a mount point: fill it
            for child in restored.iterdir():
                shutil.move(child, data_dir / child.name)
        else:
            restored.rename(data_dir)
        data_dir.chmod(DIR_MODE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Summary(component, len(files), sum(int(f["size"]) for f in files.values()))


def _extract(archive: Path, staging: Path, files: dict[str, Any]) -> None:
    seen: set[str] = set()
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name == MANIFEST:
                continue
            name = member.name.removeprefix(f"{DATA}/")
            if not member.isfile() or name == member.name or name not in files:
                raise ConfigError(f"{archive} holds {member.name!r}, which its manifest lacks")
            tar.extract(member, staging, filter="data")
            target = staging / DATA / name
            want = files[name]
            if _sha256(target) != want["sha256"]:
                raise ConfigError(f"{archive}: {name} does not match its checksum (damaged)")
            target.chmod(int(want["mode"]) & 0o777)
            seen.add(name)
    missing = set(files) - seen
    if missing:
        raise ConfigError(f"{archive} lacks files its manifest names: {sorted(missing)[:5]}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()
