"""A file a setting names, read again when it changes: trust anchors an operator rotates, a
CRL a CA publishes, taken without restarting the process that reads them.

:meth:`WatchedFile.current` stats the file each time it is asked (cheap: one ``stat``), and
reads and parses it again only when its inode, size, modification or change time differ
from the last read: a file replaced by a rename (a new inode), rewritten in place (its
mtime, its ctime) or copied over with its old mtime kept (``cp -p``: its ctime) is read
anew. The stat is taken before the read, so a write landing between the two is read again
next time, never missed.

A file that cannot be read or parsed any more is not replaced by what it held before: each
call raises :class:`FileUnusable`, naming the setting and the file, until the file is
usable again (the caller refuses what needed it, never falls back to accepting). A file
that was usable logs its failure once when it starts (again if the reason changes) and once
when it ends; a first read's failure is its caller's to report (a process that does not
start on it). Thread-safe: one lock around the stat and the read.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from atoll.errors import ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")

Stamp = tuple[int, int, int, int, int]  # device, inode, size, mtime ns, ctime ns


class FileUnusable(ConfigError):
    """The file a setting names cannot be read, or does not hold what the setting asks for.
    ``reason`` is what is wrong without the file's name (:attr:`WatchedFile.shown` names it
    where the reader is not the operator)."""

    def __init__(self, setting: str, path: Path, reason: str) -> None:
        super().__init__(f"{setting}: {path} {reason}")
        self.setting = setting
        self.path = path
        self.reason = reason


@dataclass
class _Read(Generic[T]):
    stamp: Stamp
    value: T | None  # None: unusable, with ``failure``
    failure: FileUnusable | None = None


class WatchedFile(Generic[T]):
    """``path`` (what ``setting`` names), parsed by ``parse`` (which raises ``ValueError``
    saying what the bytes lack), read again whenever it changes."""

    def __init__(self, setting: str, path: Path, parse: Callable[[bytes], T]) -> None:
        self.setting = setting
        self.path = path
        self._parse = parse
        self._lock = threading.Lock()
        self._read: _Read[T] | None = None

    @property
    def shown(self) -> str:
        """The file as a refusal names it to someone who is not the operator: its name, not
        the directory it is in."""
        return self.path.name

    def current(self) -> T:
        """What the file holds now; :class:`FileUnusable` while it cannot be read or parsed."""
        with self._lock:
            read = self._read
            try:
                stamp = _stamp(self.path.stat())
            except OSError as exc:
                read = self._failed(None, f"cannot be read ({exc.strerror or exc})")
            else:
                if read is None or read.stamp != stamp:
                    read = self._load(stamp)
            if read.failure is not None:
                raise read.failure
            assert read.value is not None
            return read.value

    def _load(self, stamp: Stamp) -> _Read[T]:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            return self._failed(stamp, f"cannot be read ({exc.strerror or exc})")
        try:
            value = self._parse(raw)
        except ValueError as exc:
            return self._failed(stamp, str(exc))
        if self._read is not None:
            was = "is usable again" if self._read.failure is not None else "changed"
            log.info("%s: %s %s: read again", self.setting, self.path, was)
        self._read = _Read(stamp, value)
        return self._read

    def _failed(self, stamp: Stamp | None, reason: str) -> _Read[T]:
        failure = FileUnusable(self.setting, self.path, reason)
        known = self._read  # None: the first read, whose failure its caller reports
        if known is not None and (known.failure is None or known.failure.reason != reason):
            log.error("%s: what needs it is refused until it is usable again", failure)
        # no stamp (the file is gone): stat again next time, whatever it was
        self._read = _Read(stamp or (-1, -1, -1, -1, -1), None, failure)
        return self._read


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_stamp(path: Path) -> Stamp | None:
    """What tells one version of ``path`` from the next (as :class:`WatchedFile` compares
    them), or None when it cannot be stat'ed: for a reader that keeps its own cache."""
    try:
        return _stamp(path.stat())
    except OSError:
        return None
