"""Loading a VNFD's files: the entry definitions and everything it imports, transitively.

Imports resolve relative to the importing file, inside the package. A file the package does
not carry resolves from the bundled ETSI SOL001 type library (``atoll/nfv/sol001``) when its
name is one of the SOL001 files, also when it is imported by URL (Atoll never fetches
anything at run time). Anything else — a missing file, a path leaving the package, a URL
to something else — is a problem naming the importing file and the import.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from atoll.nfv.csar import PackageFiles, UnreadableEntry, read_bounded
from atoll.nfv.errors import ProblemLog
from atoll.nfv.yaml_loader import YamlBudget, YamlDocument, YamlLimits, load_yaml

SOL001_FILES = ("etsi_nfv_sol001_common_types.yaml", "etsi_nfv_sol001_vnfd_types.yaml")
SOL001_PREFIX = "(sol001)/"
TOSCA_VERSIONS = ("tosca_simple_yaml_1_2", "tosca_simple_yaml_1_3")


@dataclass(frozen=True)
class LoadedFile:
    doc: YamlDocument
    source: str  # "package" or "sol001"


def read_sol001(name: str) -> bytes:
    """A bundled SOL001 type file."""
    return resources.files("atoll.nfv.sol001").joinpath(name).read_bytes()


class BundledTypes:
    """The bundled SOL001 files, parsed on first use and then shared, read-only.

    Parsing them is most of the cost of reading a small package; a long-lived caller (the
    hub) makes one and passes it to every ``load_package`` call. Nothing mutates the data.
    """

    def __init__(self) -> None:
        self._docs: dict[str, YamlDocument] = {}

    def get(self, name: str, log: ProblemLog, limits: YamlLimits) -> YamlDocument | None:
        if name not in self._docs:
            doc = load_yaml(SOL001_PREFIX + name, read_sol001(name), log, limits)
            if doc is None:
                return None
            self._docs[name] = doc
        return self._docs[name]


def load_definitions(
    files: PackageFiles,
    entry: str,
    log: ProblemLog,
    limits: YamlLimits,
    bundled: BundledTypes | None = None,
) -> list[LoadedFile]:
    """The entry file first, then every import in depth-first order, each once; the
    package's own files together within one :class:`YamlBudget` (the first file over it is
    refused, and nothing after it read)."""
    bundled = bundled or BundledTypes()
    budget = YamlBudget(limits)
    loaded: list[LoadedFile] = []
    seen: set[str] = set()
    pending = [entry]
    while pending and not budget.spent:
        path = pending.pop(0)
        if path in seen:
            continue
        seen.add(path)
        item = _load_one(files, path, log, limits, bundled, budget)
        if item is None:
            continue
        loaded.append(item)
        pending[:0] = _imports_of(files, item, log)
    return loaded


def _load_one(
    files: PackageFiles,
    path: str,
    log: ProblemLog,
    limits: YamlLimits,
    bundled: BundledTypes,
    budget: YamlBudget,
) -> LoadedFile | None:
    if path.startswith(SOL001_PREFIX):
        doc = bundled.get(path.removeprefix(SOL001_PREFIX), log, limits)
        return LoadedFile(doc, "sol001") if doc is not None else None
    if files.size(path) <= limits.max_bytes and budget.over_bytes(path, files.size(path), log):
        return None  # not even read
    try:
        raw = read_bounded(files, path, limits.max_bytes)
    except UnreadableEntry as exc:
        log.error(path, str(exc))
        return None
    if raw is None:
        log.error(path, f"is {files.size(path)} bytes, over the {limits.max_bytes}-byte limit")
        return None
    doc = load_yaml(path, raw, log, limits, budget)
    if doc is None:
        return None
    if not isinstance(doc.data, Mapping):
        log.error(path, "must be a TOSCA service template (a YAML map)")
        return None
    version = doc.data.get("tosca_definitions_version")
    if version is None:
        log.error(path, "has no tosca_definitions_version")
    elif version not in TOSCA_VERSIONS:
        log.warn(doc.where(("tosca_definitions_version",)), f"{version!r} is not TOSCA 1.2/1.3")
    return LoadedFile(doc, "package")


def _imports_of(files: PackageFiles, item: LoadedFile, log: ProblemLog) -> list[str]:
    doc = item.doc
    if not isinstance(doc.data, Mapping):
        return []
    imports = doc.data.get("imports")
    if imports is None:
        return []
    if not isinstance(imports, list):
        log.error(doc.where(("imports",)), "must be a list")
        return []
    out = []
    for index, entry in enumerate(imports):
        where = doc.where(("imports", index))
        name = entry.get("file") if isinstance(entry, Mapping) else entry
        if not isinstance(name, str) or not name:
            log.error(where, "an import must be a file name or a map with 'file'")
            continue
        resolved = _resolve(files, doc.path, name, item.source)
        if resolved is None:
            log.error(
                where,
                f"imports {name!r}, which is neither in the package nor in the bundled"
                " SOL001 type library",
            )
        else:
            out.append(resolved)
    return out


def _resolve(files: PackageFiles, importer: str, name: str, source: str) -> str | None:
    base = posixpath.basename(name)
    if "://" in name or source == "sol001":
        return SOL001_PREFIX + base if base in SOL001_FILES else None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(importer), name))
    if not joined.startswith("../") and joined != ".." and joined in files.names:
        return joined
    return SOL001_PREFIX + base if base in SOL001_FILES else None
