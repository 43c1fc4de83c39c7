"""SOL004 metadata: ``TOSCA-Metadata/TOSCA.meta``, the manifest (``.mf``), and file hashes.

Hash rules (the same for the manifest and for CSAR 1.1 ``Name:`` blocks in TOSCA.meta):

* a listed file that is present must carry a SHA-256, SHA-384 or SHA-512 hex digest, and
  the digest must match its content — otherwise the package is refused;
* a listed file that is absent is refused when the manifest lists it (SOL004: the manifest
  describes the package as shipped), but only warned about when TOSCA.meta lists it: vendor
  tooling writes ``Name:`` blocks for optional artifacts (scripts, images) and fills their
  hash later, often leaving placeholders such as ``<caculate here>``; with the file absent
  there is nothing to check, and refusing would reject packages every other VNFM onboards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from atoll.nfv.csar import safe_member_name
from atoll.nfv.digests import Claim
from atoll.nfv.errors import ProblemLog

META_PATH = "TOSCA-Metadata/TOSCA.meta"
_KEY_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)\s*:\s*(.*)$")


@dataclass(frozen=True)
class ListedFile:
    """A file named by TOSCA.meta or the manifest, with the hash it is said to have, and (a
    manifest's signed artifact, SOL004 5.3) the files of its own CMS signature and
    certificate, as written, with the line of its ``Signature:`` (or ``Certificate:``)."""

    path: str
    algorithm: str | None
    hash: str | None
    content_type: str | None
    listed_at: str  # "TOSCA-Metadata/TOSCA.meta:6"
    signature: str | None = None
    certificate: str | None = None
    signed_at: str | None = None  # "vnf.mf:12", the Signature: line (else Certificate:'s)


@dataclass(frozen=True)
class ToscaMeta:
    entry_definitions: str
    entry_manifest: str | None
    entry_change_log: str | None
    entry_licenses: str | None
    entry_certificate: str | None
    fields: Mapping[str, str]
    listed_files: tuple[ListedFile, ...]


@dataclass(frozen=True)
class Manifest:
    path: str
    metadata: Mapping[str, str]
    listed_files: tuple[ListedFile, ...]


def _blocks(path: str, text: str, log: ProblemLog) -> list[list[tuple[int, str, str]]]:
    """``Key: value`` lines grouped into blank-line separated blocks, with line numbers."""
    blocks: list[list[tuple[int, str, str]]] = [[]]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
            continue
        match = _KEY_LINE.match(line.strip())
        if match is None:
            log.error(f"{path}:{number}", f"is not a 'Key: value' line: {line.strip()[:80]!r}")
            continue
        blocks[-1].append((number, match.group(1), match.group(2).strip()))
    return [b for b in blocks if b]


def _get(block: list[tuple[int, str, str]], key: str) -> str | None:
    for _, k, v in block:
        if k.lower() == key.lower():
            return v
    return None


def parse_tosca_meta(text: str, log: ProblemLog) -> ToscaMeta | None:
    blocks = _blocks(META_PATH, text, log)
    if not blocks:
        log.error(META_PATH, "is empty")
        return None
    first = blocks[0]
    entry = _get(first, "Entry-Definitions")
    for key in ("TOSCA-Meta-File-Version", "CSAR-Version", "Created-By"):
        if _get(first, key) is None:
            log.warn(META_PATH, f"has no {key}")
    if not entry:
        log.error(META_PATH, "has no Entry-Definitions: the package names no VNFD")
        return None
    listed = []
    for block in blocks[1:]:
        name = _get(block, "Name")
        line = block[0][0]
        if name is None:
            log.warn(f"{META_PATH}:{line}", "block has no Name; ignored")
            continue
        listed.append(
            ListedFile(
                name,
                _get(block, "Algorithm"),
                _get(block, "Hash"),
                _get(block, "Content-Type"),
                f"{META_PATH}:{line}",
            )
        )
    return ToscaMeta(
        entry_definitions=entry,
        entry_manifest=_get(first, "ETSI-Entry-Manifest") or _get(first, "Entry-Manifest"),
        entry_change_log=_get(first, "ETSI-Entry-Change-Log") or _get(first, "Entry-Change-Log"),
        entry_licenses=_get(first, "ETSI-Entry-Licenses") or _get(first, "Entry-Licenses"),
        entry_certificate=_get(first, "ETSI-Entry-Certificate") or _get(first, "Entry-Certificate"),
        fields=MappingProxyType({k: v for _, k, v in first}),
        listed_files=tuple(listed),
    )


def parse_manifest(path: str, text: str, log: ProblemLog) -> Manifest:
    """A SOL004 manifest: a ``metadata:`` block, then ``Source/Algorithm/Hash`` blocks (with
    ``Signature``/``Certificate`` for a signed artifact: :mod:`.signed_artifacts` checks it).

    ``non_mano_artifact_sets`` is skipped, not interpreted; so is a trailing CMS signature
    here (:mod:`.signature` reads it).
    """
    metadata: dict[str, str] = {}
    listed: list[ListedFile] = []
    current: dict[str, str] = {}
    lines: dict[str, int] = {}
    current_line = 0
    section = ""

    def flush() -> None:
        if current.get("source"):
            signed = lines.get("signature", lines.get("certificate"))
            listed.append(
                ListedFile(
                    current["source"],
                    current.get("algorithm"),
                    current.get("hash"),
                    None,
                    f"{path}:{current_line}",
                    current.get("signature"),
                    current.get("certificate"),
                    None if signed is None else f"{path}:{signed}",
                )
            )
        current.clear()
        lines.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("-----BEGIN"):
            break
        if not stripped or stripped.startswith("#"):
            continue
        match = _KEY_LINE.match(stripped)
        if match is None:
            if section != "non_mano_artifact_sets":
                log.warn(f"{path}:{number}", "line not understood; ignored")
            continue
        key, value = match.group(1).lower(), match.group(2).strip()
        indented = line[:1].isspace()
        if key in ("metadata", "non_mano_artifact_sets") and not value:
            flush()
            section = key
        elif key == "source":
            flush()
            section, current_line = "source", number
            current["source"] = value
        elif section == "source" and key in ("algorithm", "hash", "signature", "certificate"):
            current[key] = value
            lines[key] = number
        elif section == "metadata" and not key.startswith("source"):
            metadata[match.group(1)] = value
        elif section != "non_mano_artifact_sets" or not indented:
            log.warn(f"{path}:{number}", f"key {match.group(1)!r} not understood; ignored")
    flush()
    return Manifest(path, MappingProxyType(metadata), tuple(listed))


def listed_claims(
    names: frozenset[str], listed: tuple[ListedFile, ...], log: ProblemLog, *, strict: bool
) -> list[Claim]:
    """The hash each listed file is said to have, to check against the file (:mod:`.digests`).

    ``strict`` (the manifest) refuses a listed file that is absent; otherwise it is a warning.
    """
    claims = []
    for entry in listed:
        name = safe_member_name(entry.path)
        if name is None:
            log.error(entry.listed_at, f"{entry.path!r} is not a path inside the package")
            continue
        if name not in names:
            what = f"{name} is listed but not in the package"
            if strict:
                log.error(entry.listed_at, what)
            else:
                log.warn(entry.listed_at, what + " (not checked)")
            continue
        if entry.hash is None and entry.algorithm is None:
            if strict:
                log.error(entry.listed_at, f"{name} has no Algorithm and Hash")
            continue
        claims.append(Claim(name, entry.algorithm, entry.hash, entry.listed_at, name))
    return claims
