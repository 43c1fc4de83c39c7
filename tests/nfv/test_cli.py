"""``atoll vnf package validate``: what an operator sees for good and bad packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atoll.cli import main
from tests.nfv.packages import PACKAGES, copy_package, zip_dir


def test_validate_prints_the_model_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vnf", "package", "validate", str(PACKAGES / "practical")]) == 0
    out = capsys.readouterr().out
    assert "descriptor_id       75aaa9fa-9c79-dcf5-bda2-5b98a08c9f54" in out
    assert "flavours            ha, scalable" in out
    assert "placement_rules       anti-affinity nfvi_node: VDU_0, VDU_1, VDU_2" in out


def test_validate_json_of_a_csar_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csar = tmp_path / "hw.csar"
    csar.write_bytes(zip_dir(PACKAGES / "helloworld3-functional"))
    assert main(["vnf", "package", "validate", str(csar), "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True
    (flavour,) = doc["package"]["vnfd"]["flavours"]
    assert [v["id"] for v in flavour["vdus"]] == ["VDU1", "VDU2"]
    assert flavour["aspects"][0]["vdu_deltas"] == {"VDU1": {"delta_1": 1}}


def test_validate_lists_every_problem_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_package("helloworld3-vnflcm1", tmp_path)
    df = root / "Definitions/helloworld3_df_simple.yaml"
    df.write_text(
        df.read_text()
        .replace("max_number_of_instances: 3", "max_number_of_instances: 0")
        .replace("- virtual_link: internalVL1", "- virtual_link: internalVL9")
    )
    assert main(["vnf", "package", "validate", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the VNF package is invalid\n")
    assert "min_number_of_instances (1) > max_number_of_instances (0)" in err
    assert "names 'internalVL9'" in err
    assert "Traceback" not in err
    assert main(["vnf", "package", "validate", str(root), "-f", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    assert len(doc["problems"]) == 2
    assert doc["problems"][0]["where"].startswith("Definitions/helloworld3_df_simple.yaml:")


def test_installed_command_refuses_a_missing_path(tmp_path: Path) -> None:
    atoll = Path(sys.executable).with_name("atoll")
    done = subprocess.run(
        [str(atoll), "vnf", "package", "validate", str(tmp_path / "nope.csar")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"error: the VNF package is invalid\n  - {tmp_path / 'nope.csar'}: does not exist\n"
    )
