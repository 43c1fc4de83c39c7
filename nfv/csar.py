"""Reading a CSAR: a zip archive (path or bytes) or an unpacked directory, safely.

``open_package`` returns a ``PackageFiles`` view: package-relative POSIX paths of regular
files, their sizes, and bounded reads. Whatever cannot be read safely is left out of the
view and reported, all at once:

* zip entries with absolute paths, ``..`` components or backslashes (path traversal),
  symbolic links, duplicates (also two entries that are one path once ``./`` and empty
  parts are taken out of their names: which one is meant is ambiguous), encryption;
* more entries than ``CsarLimits.max_entries``, an entry or a total over the size limits,
  a compression ratio that only a zip bomb has;
* a compression method other than stored or deflate, the only two a CSAR may use (SOL004
  asks for an ISO/IEC 21320-1 zip). It is also the only bound on what one read inflates:
  :mod:`zipfile` inflates deflate data by the amount asked for, but hands each block of
  bzip2 or LZMA data to its decompressor whole, so a few hundred bytes of bzip2 whose
  entry claims 1000 bytes become gigabytes in memory before the claim is compared;
* in a directory: symbolic links (they could point anywhere on the host).

Nothing is ever extracted to disk; files are read (or hashed, :mod:`.digests`) straight
from the archive.

A zip entry is known by its package path: ``./Files/x.txt`` or ``Files//x.txt`` (what
archivers that keep the names they are given, ``bsdtar -a -cf pkg.zip ./`` say, and scripts
that join paths by hand write) is the package's ``Files/x.txt``, as it is for Tacker, which
extracts the archive. The view maps each package path to the one zip entry that was
checked, and every read goes through that mapping (``open``); never reopen the archive by
a package path, which names no entry when the zip spells it differently.

Every problem names a place inside the package, or ``(archive)`` / ``(package)`` for the
whole, never a path on this host: the hub hands the problems to the tenant who uploaded,
and the path it stored the upload under is its own business (a local caller knows which
path it passed).
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from atoll.nfv.errors import ProblemLog

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class CsarLimits:
    """Bounds for a whole package. Images may be big; YAML is bounded separately."""

    max_entries: int = 10_000
    max_entry_bytes: int = 64 * 1024**3
    max_total_bytes: int = 128 * 1024**3
    max_ratio: int = 1000  # uncompressed/compressed, for entries over 1 MiB


class PackageFiles(Protocol):
    """Read-only view of a package's regular files by package-relative POSIX path."""

    @property
    def names(self) -> frozenset[str]: ...

    def size(self, name: str) -> int: ...

    def open(self, name: str) -> IO[bytes]: ...

    def close(self) -> None: ...


class UnreadableEntry(Exception):
    """A file of the package cannot be read back (corrupt archive data, I/O error)."""


# what ISO/IEC 21320-1 (and so a CSAR) allows; zipfile bounds the inflating of these alone
COMPRESSION_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError)


def _reason(exc: Exception) -> str:
    """Why reading failed, without the host path an ``OSError`` names."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return str(exc) or type(exc).__name__


def read_bounded(files: PackageFiles, name: str, limit: int) -> bytes | None:
    """The bytes of ``name``, or ``None`` if it holds more than ``limit`` bytes."""
    if files.size(name) > limit:
        return None
    try:
        with files.open(name) as stream:
            data = stream.read(limit + 1)
    except _READ_ERRORS as exc:
        raise UnreadableEntry(f"cannot be read: {_reason(exc)}") from exc
    return None if len(data) > limit else data


def read_logged(
    files: PackageFiles, name: str, limit: int, what: str, log: ProblemLog
) -> bytes | None:
    """:func:`read_bounded`, a refusal logged against ``name`` (it cannot be read, or it is
    over ``limit``, the limit for ``what``): ``None`` then."""
    try:
        raw = read_bounded(files, name, limit)
    except UnreadableEntry as exc:
        log.error(name, str(exc))
        return None
    if raw is None:
        log.error(name, f"is over the {limit}-byte limit for {what}")
    return raw


def read_chunks(files: PackageFiles, name: str) -> Iterator[bytes]:
    """The bytes of ``name`` in chunks of at most ``CHUNK`` (images are never held in memory
    whole); ``UnreadableEntry`` if the archive's data for it is bad. Closing the iterator
    closes the entry."""
    try:
        with files.open(name) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk
    except _READ_ERRORS as exc:
        raise UnreadableEntry(f"cannot be read: {_reason(exc)}") from exc


def safe_member_name(raw: str) -> str | None:
    """The normalised package path of an archive member, or ``None`` if it is unsafe."""
    if "\\" in raw or raw.startswith("/") or "\x00" in raw:
        return None
    parts = [p for p in PurePosixPath(raw).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or ":" in parts[0]:
        return None
    return "/".join(parts)


class ZipFiles:
    """A zip archive's regular files by package path, each mapped to the entry that was
    checked (``open`` reads that entry, whatever its name in the zip); unsafe entries are
    reported and left out."""

    def __init__(self, archive: zipfile.ZipFile, log: ProblemLog, limits: CsarLimits) -> None:
        self._zip = archive
        self._infos: dict[str, zipfile.ZipInfo] = {}
        infos = archive.infolist()
        if len(infos) > limits.max_entries:
            log.error("(archive)", f"has {len(infos)} entries, over the {limits.max_entries} limit")
            return
        total = 0
        for info in infos:
            total += info.file_size
            self._admit(info, log, limits)
        if total > limits.max_total_bytes:
            log.error(
                "(archive)",
                f"unpacks to {total} bytes, over the {limits.max_total_bytes}-byte limit",
            )

    def _admit(self, info: zipfile.ZipInfo, log: ProblemLog, limits: CsarLimits) -> None:
        where = f"(archive) {info.filename!r}"
        name = safe_member_name(info.filename)
        mode = info.external_attr >> 16
        if info.is_dir() and not PurePosixPath(info.filename).parts:
            return  # "./": the package root itself, as tar-style archivers list it
        if name is None:
            log.error(where, "entry path escapes the package root or is not a relative path")
        elif stat.S_ISLNK(mode):
            log.error(where, "entry is a symbolic link; packages must hold regular files")
        elif info.flag_bits & 0x1:
            log.error(where, "entry is encrypted")
        elif info.compress_type not in COMPRESSION_METHODS:
            log.error(
                where,
                f"entry is compressed with zip method {info.compress_type}; a CSAR uses only "
                "stored (0) or deflate (8)",
            )
        elif info.file_size > limits.max_entry_bytes:
            log.error(
                where, f"entry is {info.file_size} bytes, over the {limits.max_entry_bytes} limit"
            )
        elif info.file_size > CHUNK and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            log.error(where, "entry compresses more than any real file does (a zip bomb?)")
        elif info.is_dir():
            return
        elif name in self._infos:
            log.error(where, _twice(self._infos[name].filename, info.filename, name))
        else:
            self._infos[name] = info

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._infos)

    def size(self, name: str) -> int:
        return self._infos[name].file_size

    def open(self, name: str) -> IO[bytes]:
        return self._zip.open(self._infos[name])

    def close(self) -> None:
        self._zip.close()


def _twice(first: str, again: str, name: str) -> str:
    if first == again:
        return "entry appears twice in the archive"
    return (
        f"entry and {first!r} are both the package's {name}: which one is meant is ambiguous"
        " (name each file once)"
    )


class DirectoryFiles:
    """An unpacked package directory; symbolic links are reported and left out."""

    def __init__(self, root: Path, log: ProblemLog, limits: CsarLimits) -> None:
        self._root = root
        self._sizes: dict[str, int] = {}
        for path in _walk(root):
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                log.error(rel, "is a symbolic link; packages must hold regular files")
            elif path.is_file():
                self._sizes[rel] = path.stat().st_size
            if len(self._sizes) > limits.max_entries:
                log.error("(package)", f"holds over {limits.max_entries} files")
                break

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._sizes)

    def size(self, name: str) -> int:
        return self._sizes[name]

    def open(self, name: str) -> IO[bytes]:
        return (self._root / name).open("rb")

    def close(self) -> None:
        """Nothing is held open between reads."""


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.iterdir()):
        yield path
        if path.is_dir() and not path.is_symlink():
            yield from _walk(path)


def open_package(
    source: Path | bytes, log: ProblemLog, limits: CsarLimits | None = None
) -> PackageFiles | None:
    """A view of the package at ``source`` (zip bytes, a zip file, or a directory)."""
    limits = limits or CsarLimits()
    if isinstance(source, Path) and source.is_dir():
        return DirectoryFiles(source, log, limits)
    try:
        if isinstance(source, Path):
            archive = zipfile.ZipFile(source)
        else:
            archive = zipfile.ZipFile(io.BytesIO(source))
    except FileNotFoundError:
        log.error("(package)", "does not exist")
        return None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        log.error(
            "(archive)",
            f"is neither a package directory nor a readable zip archive ({_reason(exc)})",
        )
        return None
    return ZipFiles(archive, log, limits)
