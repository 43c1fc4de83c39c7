"""Daemon data at rest: directories 0700, secret-bearing files 0600, on new and old installs.

A daemon's data dir holds what no other local user may read: SQLite databases (password
hashes, signing keys) with their ``-wal``/``-shm`` files, private keys, guests' user data,
uploaded images. Each daemon, at start:

- :func:`restrict_umask` so every file and directory it (or a child such as qemu-img or
  genisoimage) creates is private from the start;
- :func:`private_dir` on its data dir and the dirs under it that it owns;
- :func:`private_files` on the secret files an older version may have left readable.

Symlinks are never followed: a link planted where a secret should be is left as it is,
and its target is not touched.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077


def restrict_umask() -> int:
    """Make this process create files 0600 and dirs 0700; returns the previous umask."""
    return os.umask(UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing, and make it 0700 (only ``path`` itself)."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if not path.is_symlink():
        path.chmod(DIR_MODE)
    return path


def private_files(paths: Iterable[Path], mode: int = FILE_MODE) -> None:
    """Take group and other access away from each regular file that exists (others skipped)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            st = path.lstat()
            if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
                path.chmod(stat.S_IMODE(st.st_mode) & mode)


def write_atomically(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``path`` whole or not at all (a reader never sees half a file); ``private``:
    mode 0600 (else 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def sqlite_files(db: Path) -> list[Path]:
    """A SQLite database and the files WAL mode keeps next to it."""
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
