"""What a package says about the hashes of its own files, and checking it: each file read once.

A :class:`Claim` is one statement, written somewhere in the package, that a file has a
digest: a ``Source/Algorithm/Hash`` block of the manifest, a ``Name:`` block of TOSCA.meta
(:mod:`.manifest` makes those), or the ``sw_image_data.checksum`` a VNFD declares for an
image the package carries (:mod:`.artifacts`). Claims are gathered as written; then
:func:`hash_files` reads each file they name once, feeding every digest asked of it from the
same chunks (an image of many GiB is read once, however many claims name it and whatever
digests the caller wants of it besides), and :func:`check_claims` reports, claim by claim,
one that cannot be checked (:meth:`Claim.form`: an algorithm SOL004 does not name, a hash
that is no hex digest of its length) or does not match. A claim that cannot be checked is a
problem, never a pass: otherwise a package could choose to go unverified.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from atoll.nfv.csar import PackageFiles, UnreadableEntry, read_chunks
from atoll.nfv.errors import ProblemLog

# SOL004's hash algorithms, as packages spell them -> (hashlib name, hex digest length)
ALGORITHMS = {"sha-256": ("sha256", 64), "sha-384": ("sha384", 96), "sha-512": ("sha512", 128)}


@dataclass(frozen=True)
class Claim:
    """``where`` (a manifest line, a VNFD node) says file ``path`` has the ``digest`` of
    ``algorithm``, both as written; ``subject`` is what a problem about it names first (the
    file, or the VDU whose image it is), ``said`` how the claim says it."""

    path: str
    algorithm: str | None
    digest: str | None
    where: str
    subject: str
    said: str = "listed"

    def form(self) -> tuple[str, str] | str:
        """``(hashlib name, expected hex digest)``, or why the claim cannot be checked."""
        spelled = (self.algorithm or "").strip().lower().replace("sha", "sha-").replace("--", "-")
        if spelled not in ALGORITHMS:
            return f"hash algorithm {self.algorithm!r} is not SHA-256, SHA-384 or SHA-512"
        name, length = ALGORITHMS[spelled]
        if self.digest is None:
            return "has an Algorithm but no Hash"
        expected = self.digest.strip().lower()
        if not re.fullmatch(rf"[0-9a-f]{{{length}}}", expected):
            return f"hash {self.digest!r} is not a {spelled.upper()} hex digest"
        return name, expected


@dataclass(frozen=True)
class FileDigest:
    """A file's size and its digests, by hashlib name (``sha256``...)."""

    size: int
    hexdigests: Mapping[str, str]


def label(algorithm: str) -> str:
    """``sha256`` -> ``SHA-256``."""
    return algorithm.upper().replace("SHA", "SHA-")


def hash_files(
    files: PackageFiles, wanted: Mapping[str, Iterable[str]], log: ProblemLog
) -> dict[str, FileDigest]:
    """Each file of ``wanted`` (package path -> hashlib names) read once, every digest asked
    of it computed from the same chunks; a file that cannot be read is a problem naming it."""
    out: dict[str, FileDigest] = {}
    for name in sorted(wanted):
        digests = {algorithm: hashlib.new(algorithm) for algorithm in sorted(set(wanted[name]))}
        size = 0
        try:
            for chunk in read_chunks(files, name):
                size += len(chunk)
                for digest in digests.values():
                    digest.update(chunk)
        except UnreadableEntry as exc:
            log.error(name, str(exc))
            continue
        hexdigests = {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}
        out[name] = FileDigest(size, MappingProxyType(hexdigests))
    return out


def wanted_by(claims: Iterable[Claim]) -> dict[str, set[str]]:
    """Package path -> the digests the claims that can be checked need of it."""
    out: dict[str, set[str]] = {}
    for item in claims:
        form = item.form()
        if not isinstance(form, str):
            out.setdefault(item.path, set()).add(form[0])
    return out


def check_claims(
    claims: Iterable[Claim], digests: Mapping[str, FileDigest], log: ProblemLog
) -> tuple[str, ...]:
    """Check each claim, in order, against the file's digests (:func:`hash_files` of
    :func:`wanted_by` the claims); return the paths every claim of which held. A file that
    could not be read was reported by :func:`hash_files`."""
    held: dict[str, bool] = {}
    for item in claims:
        form = item.form()
        found = digests.get(item.path)
        if isinstance(form, str):
            log.error(item.where, f"{item.subject}: {form}")
            ok = False
        elif found is None:
            ok = False
        else:
            algorithm, expected = form
            actual = found.hexdigests[algorithm]
            ok = actual == expected
            if not ok:
                log.error(
                    item.where,
                    f"{item.subject}: {label(algorithm)} mismatch: {item.said} {expected}, "
                    f"file has {actual}",
                )
        held[item.path] = held.get(item.path, True) and ok
    return tuple(path for path, ok in held.items() if ok)
