"""Where the conformance packages are, and ways to make (mutated) copies of them."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
PACKAGES = CONFORMANCE / "vnf-packages"
NAMES = sorted(p.name for p in PACKAGES.iterdir() if p.is_dir())


def copy_package(name: str, tmp_path: Path) -> Path:
    """A writable copy of a conformance package, to mutate."""
    target = tmp_path / name
    shutil.copytree(PACKAGES / name, target)
    return target


def zip_dir(root: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """The package directory as CSAR bytes (TOSCA-Metadata at the archive root)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()
