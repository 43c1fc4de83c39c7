"""Where the conformance packages are, and ways to make (mutated) copies of them."""

from __future__ import annotations

import hashlib
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


def to_zip(files: dict[str, bytes]) -> bytes:
    """``files`` (package path -> bytes) as CSAR bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


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


# getting-started's VDU1 boots the image its VNFD names as a SwImage artifact at IMAGE, and
# declares that image's sha-512 (cirros 0.5.2's): a package carrying other bytes must declare
# theirs, as a vendor building the package does
GETTING_STARTED_DF = "Definitions/sample_vnfd_df_simple.yaml"
IMAGE = "Files/images/cirros-0.5.2-x86_64-disk.img"
CIRROS_SHA512 = (
    "6b813aa46bb90b4da216a4d19376593fa3f4fc7e617f03a92b7fe11e9a3981cbe8f0959dbebe36225e5f53dc44"
    "92341a4863cac4ed1ee0909f3fc78ef9c3e869"
)


def declaring(vnfd: str, image: bytes) -> str:
    """getting-started's flavour file ``vnfd`` (text) declaring the sha-512 of ``image``."""
    assert CIRROS_SHA512 in vnfd
    return vnfd.replace(CIRROS_SHA512, hashlib.sha512(image).hexdigest())


def carry(root: Path, image: bytes) -> Path:
    """A copy of getting-started at ``root`` carrying ``image`` as VDU1's, its VNFD declaring
    the image's sha-512; returns ``root``."""
    (root / IMAGE).parent.mkdir(parents=True, exist_ok=True)
    (root / IMAGE).write_bytes(image)
    df = root / GETTING_STARTED_DF
    df.write_text(declaring(df.read_text(), image))
    return root


def carrying(image: bytes) -> dict[str, bytes]:
    """getting-started's files by package path, carrying ``image`` as VDU1's and declaring
    its sha-512."""
    root = PACKAGES / "getting-started"
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    files[GETTING_STARTED_DF] = declaring(files[GETTING_STARTED_DF].decode(), image).encode()
    return {**files, IMAGE: image}
