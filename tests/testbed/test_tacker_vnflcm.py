"""``openstack vnflcm ...`` (python-tackerclient's plugin, unchanged, SOL003 v2) against a
real hub and a real site agent on fake drivers (the testbed, ``--fake-sites 1``: no guests).

``OS_AUTH_URL`` points at the hub's Keystone v3 facade and nothing else; a project member
uploads a small qcow2 image (``atoll image upload``), onboards the getting-started package
declaring it (``openstack vnf package``), then creates a VNF instance from its VNFD,
instantiates it on the site, shows it, lists and shows the op occurrences, terminates and
deletes it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atoll.testbed.bed import procs
from atoll.testbed.bed.bringup import hub_client
from atoll.testbed.bed.state import BedState
from atoll.testbed.demo.packages import getting_started
from tests.hub.test_tacker_clients import Ran, run_openstack
from tests.nfv.packages import zip_dir

pytestmark = pytest.mark.e2e
PASSWORD = "vnflcm-pw-2c81d0"
V2 = ["--os-tacker-api-version", "2"]


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BedState]:
    directory = tmp_path_factory.mktemp("vnflcm") / "bed"
    env = {**procs.clean_env(), "XDG_CONFIG_HOME": str(directory / "config")}
    up = [sys.executable, "-m", "atoll", "testbed", "up", "--sites", "0", "--fake-sites", "1"]
    try:  # down even after an interrupted up (a timeout kills `up` before its own cleanup)
        proc = subprocess.run([*up, "--dir", str(directory)], capture_output=True, text=True,
                              timeout=300, env=env)  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        state = BedState.load(directory)
        admin = hub_client(state)
        admin.post("/v1/projects", {"name": "lcm-telco"})
        admin.post("/v1/users", {"name": "lcm-oper", "password": PASSWORD})
        admin.post("/v1/role_assignments",
                   {"user": "lcm-oper", "project": "lcm-telco", "role": "member"})  # fmt: skip
        yield state
    finally:
        down = [sys.executable, "-m", "atoll", "testbed", "down", "--dir", str(directory)]
        subprocess.run(down, capture_output=True, timeout=300, env=env)


def csar_for_image(bed: BedState, work: Path) -> Path:
    """getting-started declaring a small qcow2 that the project member uploaded (the fake
    site's storage pulls it from the hub like a real one would)."""
    disk = work / "small.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    client = hub_client(bed)
    login = {"user": "lcm-oper", "password": PASSWORD, "project": "lcm-telco"}
    issued = client.post("/v1/auth/tokens", login)
    env = {**procs.clean_env(), "XDG_CONFIG_HOME": str(work / "config"),
           "ATOLL_URL": bed.hub_url, "ATOLL_TOKEN": str(issued["token"]),
           "ATOLL_CA_FILE": str(bed.hub_data / "ca.pem")}  # fmt: skip
    argv = [sys.executable, "-m", "atoll", "image", "upload", str(disk), "--name", "small"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    package = getting_started(
        work / "getting-started", hashlib.sha512(disk.read_bytes()).hexdigest()
    )
    csar = work / "package.zip"
    csar.write_bytes(zip_dir(package))
    return csar


def openstack(bed: BedState, home: Path, *argv: str) -> Ran:
    return run_openstack(
        bed.hub_url, bed.hub_data / "ca.pem", home, list(argv), "lcm-oper", PASSWORD, "lcm-telco"
    )


def ok_json(bed: BedState, home: Path, *argv: str) -> Any:
    ran = openstack(bed, home, *argv, "-f", "json")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def until(bed: BedState, home: Path, what: str, *argv: str, field: str, wanted: str) -> Any:
    deadline = time.monotonic() + 120
    while (shown := ok_json(bed, home, *argv))[field] != wanted:
        assert time.monotonic() < deadline, f"{what}: {shown}"
        time.sleep(0.5)
    return shown


def test_a_vnf_instance_through_its_life_with_openstack_vnflcm(
    bed: BedState, tmp_path: Path
) -> None:
    package = ok_json(bed, tmp_path, "vnf", "package", "create")["ID"]
    csar = csar_for_image(bed, tmp_path)
    uploaded = openstack(bed, tmp_path, "vnf", "package", "upload", "--path", str(csar), package)
    assert uploaded.returncode == 0, uploaded.stderr
    onboarded = until(bed, tmp_path, "the package onboarded", "vnf", "package", "show", package,
                      field="Onboarding State", wanted="ONBOARDED")  # fmt: skip
    vnfd_id = onboarded["VNFD ID"]

    created = ok_json(bed, tmp_path, "vnflcm", "create", vnfd_id, "--name", "gs", *V2)
    instance = created["ID"]
    assert created["Instantiation State"] == "NOT_INSTANTIATED"
    assert created["VNFD ID"] == vnfd_id

    request = tmp_path / "instantiate.json"
    placement = {"placement": {"sites": ["site-1"]}}
    request.write_text(json.dumps({"flavourId": "simple", "additionalParams": placement}))
    ran = openstack(bed, tmp_path, "vnflcm", "instantiate", instance, str(request), *V2)
    assert ran.returncode == 0 and "accepted" in ran.stdout, ran
    (occ,) = ok_json(bed, tmp_path, "vnflcm", "op", "list", *V2)
    assert occ["Operation"] == "INSTANTIATE" and occ["VNF Instance ID"] == instance
    until(bed, tmp_path, "the instantiate completed", "vnflcm", "op", "show", occ["ID"], *V2,
          field="Operation State", wanted="COMPLETED")  # fmt: skip
    shown = ok_json(bed, tmp_path, "vnflcm", "show", instance, *V2)
    assert shown["Instantiation State"] == "INSTANTIATED"
    vnfcs = shown["Instantiated Vnf Info"]["vnfcResourceInfo"]
    assert [v["vduId"] for v in vnfcs] == ["VDU1"]
    listed = ok_json(bed, tmp_path, "vnflcm", "list", *V2)
    assert [(i["ID"], i["Instantiation State"]) for i in listed] == [(instance, "INSTANTIATED")]

    ran = openstack(bed, tmp_path, "vnflcm", "terminate", instance, *V2)
    assert ran.returncode == 0 and "accepted" in ran.stdout, ran
    occs = ok_json(bed, tmp_path, "vnflcm", "op", "list", *V2)
    (terminate,) = [o for o in occs if o["Operation"] == "TERMINATE"]
    until(bed, tmp_path, "the terminate completed", "vnflcm", "op", "show", terminate["ID"], *V2,
          field="Operation State", wanted="COMPLETED")  # fmt: skip
    assert ok_json(bed, tmp_path, "vnflcm", "show", instance, *V2)["Instantiation State"] == (
        "NOT_INSTANTIATED"
    )

    ran = openstack(bed, tmp_path, "vnflcm", "delete", instance, *V2)
    assert ran.returncode == 0, ran.stderr
    assert ok_json(bed, tmp_path, "vnflcm", "list", *V2) == []
    gone = openstack(bed, tmp_path, "vnflcm", "show", instance, *V2)
    assert gone.returncode != 0
