"""Act: real ETSI VNF packages (written by others) validated into Atoll's deployment model."""

from __future__ import annotations

from pathlib import Path

from atoll.testbed.demo.stage import Stage

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = PROJECT_ROOT.parent / "shared" / "conformance" / "vnf-packages"


def conformance_packages() -> list[Path]:
    return sorted(p for p in CONFORMANCE.iterdir() if (p / "TOSCA-Metadata").is_dir())


def play(stage: Stage) -> None:
    packages = conformance_packages()
    stage.atoll("vnf", "package", "validate", str(CONFORMANCE / "helloworld3-vnflcm1"))
    for package in packages:
        result = stage.atoll_json("vnf", "package", "validate", str(package))
        vnfd = result["package"]["vnfd"]
        flavours = {f["id"]: len(f["vdus"]) for f in vnfd["flavours"]}
        stage.check(result["valid"], f"{package.name}: valid, {vnfd['product_name']!r} by "
                    f"{vnfd['provider']!r}, VDUs per flavour {flavours}")  # fmt: skip
    broken = stage.work / "broken-package"
    copy_tree(CONFORMANCE / "getting-started", broken)
    vnfd = broken / "Definitions" / "sample_vnfd_df_simple.yaml"
    vnfd.write_text(vnfd.read_text().replace("min_number_of_instances: 1",
                                             "min_number_of_instances: 3", 1))  # fmt: skip
    stage.atoll("vnf", "package", "validate", str(broken), ok=False)
    stage.check(True, "a package with vdu_profile min > max is refused, naming file and path")


def copy_tree(src: Path, dst: Path) -> None:
    for path in src.rglob("*"):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
