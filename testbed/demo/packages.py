"""Act: real ETSI VNF packages (written by others) validated into Atoll's deployment model.

Also the getting-started package as the demo and the tests onboard it: with the image they
uploaded (:func:`getting_started`), and as a fleet runs it, spread over sites with the
policies they give (:func:`spread_package`, :func:`spread_policies`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from atoll.testbed.demo.stage import Stage

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = PROJECT_ROOT.parent / "shared" / "conformance" / "vnf-packages"
GETTING_STARTED_DF = Path("Definitions") / "sample_vnfd_df_simple.yaml"
CIRROS_SHA512 = (  # what the getting-started VNFD declares for VDU1's image
    "6b813aa46bb90b4da216a4d19376593fa3f4fc7e617f03a92b7fe11e9a3981cbe8f0959dbebe36225e5f53dc44"
    "92341a4863cac4ed1ee0909f3fc78ef9c3e869"
)
# VDU1 never twice in one zone (site)
SPREAD = """
  groups:
    Spread:
      type: tosca.groups.nfv.PlacementGroup
      members: [ VDU1 ]

  policies:
    - spread:
        type: tosca.policies.nfv.AntiAffinityRule
        targets: [ Spread ]
        properties:
          scope: zone
"""
SCALING = """\
    - scaling:
        type: tosca.policies.nfv.ScalingAspects
        properties:
          aspects:
"""
ASPECT = """\
            {id}:
              name: {id}
              description: {description}
              max_scale_level: {max_scale_level}
              step_deltas: [ delta_1 ]
"""
INITIAL = """\
    - {vdu_lower}_initial:
        type: tosca.policies.nfv.VduInitialDelta
        properties:
          initial_delta:
            number_of_instances: {instances}
        targets: [ {vdu} ]
"""
DELTAS = """\
    - {id}_deltas:
        type: tosca.policies.nfv.VduScalingAspectDeltas
        properties:
          aspect: {id}
          deltas:
            delta_1:
              number_of_instances: {delta}
        targets: [ {vdu} ]
"""


@dataclass(frozen=True)
class Aspect:
    """A scaling aspect: each of its ``max_scale_level`` steps adds ``delta`` of ``vdu``."""

    id: str
    vdu: str
    max_scale_level: int
    description: str
    delta: int = 1


def spread_policies(initial: Mapping[str, int], aspects: Sequence[Aspect] = ()) -> str:
    """The ``groups`` and ``policies`` a VNFD's topology_template ends with: VDU1 spread by
    zone anti-affinity, ``initial`` instances of each VDU named there, and ``aspects``."""
    text = SPREAD
    if aspects:
        text += SCALING + "".join(ASPECT.format(**vars(a)) for a in aspects)
    for vdu, instances in initial.items():
        text += INITIAL.format(vdu=vdu, vdu_lower=vdu.lower(), instances=instances)
    for a in aspects:
        text += DELTAS.format(**vars(a))
    return text


def file_sha512(path: str | Path) -> str:
    """The sha-512 of a file, as whoever writes a VNFD for the image takes it (the hub's
    record of an image gets its ``checksum_sha512`` moments after the upload, not in it)."""
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha512").hexdigest()


def getting_started(target: Path, sha512: str) -> Path:
    """getting-started copied to ``target`` (returned), VDU1's image the one whose sha-512 is
    ``sha512``: the hub binds a VDU only to an image whose checksum matches."""
    copy_tree(CONFORMANCE / "getting-started", target)
    df = target / GETTING_STARTED_DF
    df.write_text(df.read_text().replace(CIRROS_SHA512, sha512))
    return target


def spread_package(target: Path, sha512: str, policies: str, nodes: str = "") -> Path:
    """:func:`getting_started` as a fleet runs it: up to two 256 MB instances of VDU1, on
    the external link only (no internal one), ``nodes`` (YAML node templates) added to the
    topology, which ends with ``policies`` (:func:`spread_policies`)."""
    df = getting_started(target, sha512) / GETTING_STARTED_DF
    text = df.read_text()
    text = text.replace("max_number_of_instances: 1", "max_number_of_instances: 2")
    text = text.replace("virtual_mem_size: 512 MB", "virtual_mem_size: 256 MB")
    text = text.replace("        - virtual_link: internalVL1\n", "")
    text = text.replace("\n    internalVL1:", nodes + "\n    internalVL1:")
    df.write_text(text.rstrip("\n") + "\n" + policies)
    return target


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
