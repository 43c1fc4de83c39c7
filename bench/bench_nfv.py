"""VNF package validation: time and peak memory per conformance package.

For each package in ``../shared/conformance/vnf-packages`` (zipped in memory, as an upload
arrives), ``load_package`` with the parsed SOL001 library shared between calls (as the hub
runs it), against the floor: parsing the same package's YAML files with PyYAML's C safe
loader and nothing else (no limits, no hashes, no imports, no types, no model). Plain
``yaml.safe_load`` (pure Python) is several times slower than that floor. One cold figure
(the bundled SOL001 files parsed again) shows the cost a one-shot CLI run pays.
"""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import yaml

from atoll.nfv.definitions import BundledTypes
from atoll.nfv.package import load_package
from bench.report import emit, median_of

RUNS = 7
PACKAGES = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "vnf-packages"


def csar(root: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def yaml_texts(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(root.rglob("*.yaml"))]


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def peak_bytes(work: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        work()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def main() -> None:
    bundled = BundledTypes()
    for root in sorted(p for p in PACKAGES.iterdir() if p.is_dir()):
        data = csar(root)
        texts = yaml_texts(root)

        def validate(data: bytes = data) -> object:
            return load_package(data, bundled=bundled)

        def plain(texts: list[bytes] = texts) -> object:
            return [yaml.load(t, Loader=yaml.CSafeLoader) for t in texts]

        validate()  # warm: the shared SOL001 library is parsed once per process
        name = root.name
        emit(
            f"nfv_validate_ms_{name}",
            median_of(RUNS, lambda: seconds(validate)) * 1000,
            "ms",
            median_of(RUNS, lambda: seconds(plain)) * 1000,
        )
        emit(
            f"nfv_validate_peak_kib_{name}",
            peak_bytes(validate) / 1024,
            "KiB",
            peak_bytes(plain) / 1024,
        )
    root = PACKAGES / "getting-started"
    data, texts = csar(root), yaml_texts(root)
    emit(
        "nfv_validate_cold_ms_getting-started",
        median_of(RUNS, lambda: seconds(lambda: load_package(data))) * 1000,
        "ms",
        median_of(
            RUNS, lambda: seconds(lambda: [yaml.load(t, Loader=yaml.CSafeLoader) for t in texts])
        )
        * 1000,
    )


if __name__ == "__main__":
    main()
