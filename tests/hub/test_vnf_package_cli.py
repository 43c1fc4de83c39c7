"""``atoll vnf package upload|list|show|vnfd|disable|delete`` against a real served hub."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from atoll.cli import main
from atoll.nfv.artifacts import image_needs, vnfd_files
from atoll.nfv.package import load_package
from tests.hub.test_user_story import ADMIN_PASSWORD, Hub, cli, hub, login
from tests.nfv.packages import PACKAGES, carry, copy_package

pytestmark = pytest.mark.integration
__all__ = ["hub"]  # the served hub fixture


def test_upload_a_package_directory_and_manage_it(
    hub: Hub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    login(capsys, hub, "admin", ADMIN_PASSWORD)
    cli(capsys, "project", "create", "a")
    cli(capsys, "user", "create", "alice", "--password", "alice-password")
    cli(capsys, "role", "add", "--user", "alice", "--project", "a", "--role", "member")
    login(capsys, hub, "alice", "alice-password", "--project", "a")

    bits = b"image bits" * 4096
    carrying = carry(copy_package("getting-started", tmp_path), bits)
    package = cli(capsys, "vnf", "package", "upload", str(carrying))
    assert package["onboardingState"] == "ONBOARDED"
    assert package["operationalState"] == "ENABLED"
    (image,) = package["softwareImages"]
    assert image["carried"] is True

    # a package without its image fails, naming the VDU and the fix
    assert main(["vnf", "package", "upload", str(PACKAGES / "free5gc")]) == 1
    err = capsys.readouterr().err
    assert "failed onboarding" in err and "free5gc has no image" in err
    assert "--image-map free5gc=IMAGE" in err
    # mapped to the image the first package carried, which has the checksum its VNFD declares
    free5gc = tmp_path / "free5gc"
    shutil.copytree(PACKAGES / "free5gc", free5gc)
    vnfd = free5gc / "Definitions" / "sample_free5gc_df_simple.yaml"
    declared = image_needs(load_package(PACKAGES / "free5gc"))[0].image.checksum.hash
    vnfd.write_text(vnfd.read_text().replace(declared, hashlib.sha512(bits).hexdigest()))
    mapped = cli(
        capsys,
        "vnf",
        "package",
        "upload",
        str(free5gc),
        "--image-map",
        f"free5gc={image['catalogImage']}",
    )
    assert mapped["onboardingState"] == "ONBOARDED"
    assert mapped["softwareImages"][0]["catalogImage"] == image["catalogImage"]

    listed = cli(capsys, "vnf", "package", "list")
    states = {p["id"]: p["onboardingState"] for p in listed}
    assert states[package["id"]] == "ONBOARDED" and states[mapped["id"]] == "ONBOARDED"
    assert len(states) == 3  # the failed one is listed too, in ERROR
    assert main(["vnf", "package", "list"]) == 0
    table = capsys.readouterr().out
    assert package["id"] in table and "ONBOARDED" in table and "ERROR" in table
    assert main(["vnf", "package", "show", package["id"]]) == 0
    assert f"VDU1={image['catalogImage']}" in capsys.readouterr().out
    shown = cli(capsys, "vnf", "package", "show", package["id"])
    assert shown["vnfdId"] == load_package(PACKAGES / "getting-started").vnfd.descriptor_id

    out = tmp_path / "vnfd.zip"
    assert main(["vnf", "package", "vnfd", package["id"], "--output", str(out)]) == 0
    capsys.readouterr()
    with zipfile.ZipFile(io.BytesIO(out.read_bytes())) as archive:
        got = {n: archive.read(n) for n in archive.namelist()}
    model = load_package(carrying)  # as uploaded: declaring the checksum of the image it carries
    assert got == vnfd_files(carrying, model)

    assert main(["vnf", "package", "delete", package["id"]]) == 1
    assert "disable it first" in capsys.readouterr().err
    disabled = cli(capsys, "vnf", "package", "disable", package["id"])
    assert disabled["operationalState"] == "DISABLED"
    assert main(["vnf", "package", "delete", package["id"]]) == 0
    capsys.readouterr()
    assert main(["vnf", "package", "show", package["id"], "-f", "json"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (hub.data_dir / "vnf_packages" / f"{package['id']}.zip").exists()


def test_upload_show_and_disable_take_every_output_option(
    hub: Hub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``-f value -c id`` gives a script the id alone, as every other create and show does."""
    login(capsys, hub, "admin", ADMIN_PASSWORD)
    cli(capsys, "project", "create", "a")
    cli(capsys, "role", "add", "--user", "admin", "--project", "a", "--role", "member")
    login(capsys, hub, "admin", ADMIN_PASSWORD, "--project", "a")
    carrying = carry(copy_package("getting-started", tmp_path), b"image bits" * 4096)
    code = main(["vnf", "package", "upload", str(carrying), "-f", "value", "-c", "id"])
    out, err = capsys.readouterr()
    assert code == 0, err
    package_id = out.strip()
    assert out == f"{package_id}\n" and len(package_id) == 32
    argv = ["vnf", "package", "show", package_id]
    assert main([*argv, "-f", "value", "-c", "onboardingState", "-c", "images"]) == 0
    state, images = capsys.readouterr().out.splitlines()
    assert state == "ONBOARDED" and images.startswith("VDU1=")
    assert main([*argv, "-f", "yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["id"] == package_id
    assert main([*argv, "-f", "csv", "-c", "usageState"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Field,Value", "usageState,NOT_IN_USE"]
    argv = ["vnf", "package", "disable", package_id, "-f", "value", "-c", "operationalState"]
    assert main(argv) == 0
    assert capsys.readouterr().out == "DISABLED\n"


def test_show_of_a_package_that_failed_onboarding_says_why(
    hub: Hub, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table, not only ``-f json``, says why a package is in ERROR: the failure's detail
    and its problems."""
    login(capsys, hub, "admin", ADMIN_PASSWORD)
    cli(capsys, "project", "create", "a")
    cli(capsys, "role", "add", "--user", "admin", "--project", "a", "--role", "member")
    login(capsys, hub, "admin", ADMIN_PASSWORD, "--project", "a")
    assert main(["vnf", "package", "upload", str(PACKAGES / "free5gc")]) == 1
    capsys.readouterr()
    (failed,) = cli(capsys, "vnf", "package", "list")
    assert failed["onboardingState"] == "ERROR"
    details = cli(capsys, "vnf", "package", "show", failed["id"])["onboardingFailureDetails"]
    assert main(["vnf", "package", "show", failed["id"]]) == 0
    table = capsys.readouterr().out
    assert "ERROR" in table and details["detail"] in table
    assert "free5gc has no image" in table
    argv = ["vnf", "package", "show", failed["id"], "-f", "value", "-c", "failure"]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(details["detail"])
