"""``openstack vnflcm ...`` (python-tackerclient's plugin, unchanged, SOL003 v2) against a
real hub and a real site agent on fake drivers (the testbed, ``--fake-sites 1``: no guests).

``OS_AUTH_URL`` points at the hub's Keystone v3 facade and nothing else; a project member
uploads a small qcow2 image (``atoll image upload``), onboards the getting-started package
declaring it (``openstack vnf package``), then creates a VNF instance from its VNFD,
instantiates it on the site, shows it, lists and shows the op occurrences, terminates and
deletes it. Then, with the site cut off (``atoll testbed partition``) so an instantiate stays
PROCESSING, ``openstack vnflcm op cancel`` (GRACEFUL: FAILED_TEMP once the site, back,
finished; FORCEFUL: FAILED_TEMP at once) and ``op rollback`` leave it NOT_INSTANTIATED.
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

from atoll.testbed.bed import faults, procs
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


def until(
    bed: BedState, home: Path, what: str, *argv: str, field: str, wanted: str, wait: float = 120
) -> Any:
    deadline = time.monotonic() + wait
    while (shown := ok_json(bed, home, *argv))[field] != wanted:
        assert time.monotonic() < deadline, f"{what}: {shown}"
        time.sleep(0.5)
    return shown


def onboard(bed: BedState, home: Path) -> str:
    """The VNFD id of the getting-started package, onboarded by ``openstack vnf package``
    (once per testbed: a project takes a VNFD once)."""
    listed = ok_json(bed, home, "vnf", "package", "list")
    for row in listed:
        if row.get("Onboarding State") == "ONBOARDED":
            return str(ok_json(bed, home, "vnf", "package", "show", row["Id"])["VNFD ID"])
    package = ok_json(bed, home, "vnf", "package", "create")["ID"]
    csar = csar_for_image(bed, home)
    uploaded = openstack(bed, home, "vnf", "package", "upload", "--path", str(csar), package)
    assert uploaded.returncode == 0, uploaded.stderr
    onboarded = until(bed, home, "the package onboarded", "vnf", "package", "show", package,
                      field="Onboarding State", wanted="ONBOARDED")  # fmt: skip
    return str(onboarded["VNFD ID"])


def test_a_vnf_instance_through_its_life_with_openstack_vnflcm(
    bed: BedState, tmp_path: Path
) -> None:
    vnfd_id = onboard(bed, tmp_path)

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


def cancelled(bed: BedState, home: Path, op_id: str, *mode: str) -> Ran:
    """``openstack vnflcm op cancel`` (the client's v1 API: it has no v2 command). The hub
    answers 202 and the client says "accepted"; python-tackerclient 2.6.0 then exits 1
    whatever the answer ("cannot unpack non-iterable NoneType object": the command is a
    ShowOne whose take_action returns None), so its exit status says nothing here."""
    ran = openstack(bed, home, "vnflcm", "op", "cancel", op_id, *mode)
    assert f"Cancel request for LCM operation {op_id} has been accepted" in ran.stdout, ran
    return ran


def test_openstack_vnflcm_op_cancel_graceful_and_forceful(bed: BedState, tmp_path: Path) -> None:
    vnfd_id = onboard(bed, tmp_path)
    instance = ok_json(bed, tmp_path, "vnflcm", "create", vnfd_id, "--name", "gs-c", *V2)["ID"]
    request = tmp_path / "instantiate.json"
    placement = {"placement": {"sites": ["site-1"]}}
    request.write_text(json.dumps({"flavourId": "simple", "additionalParams": placement}))
    for mode in ("GRACEFUL", "FORCEFUL"):
        faults.partition(bed, "site-1")  # the site hears nothing: the instantiate waits
        try:
            ran = openstack(bed, tmp_path, "vnflcm", "instantiate", instance, str(request), *V2)
            assert ran.returncode == 0 and "accepted" in ran.stdout, ran
            occs = ok_json(bed, tmp_path, "vnflcm", "op", "list", "--filter",
                           f"(eq,vnfInstanceId,{instance})", *V2)  # fmt: skip
            (op,) = [o["ID"] for o in occs if o["Operation State"] in ("STARTING", "PROCESSING")]
            until(bed, tmp_path, "the instantiate waiting for site-1", "vnflcm", "op", "show",
                  op, *V2, field="Operation State", wanted="PROCESSING")  # fmt: skip
            cancelled(bed, tmp_path, op, *(["--cancel-mode", mode] if mode == "FORCEFUL" else []))
            shown = ok_json(bed, tmp_path, "vnflcm", "op", "show", op, *V2)
            if mode == "GRACEFUL":  # the site is in flight: the cancel waits for it
                assert shown["Operation State"] == "PROCESSING", shown
                assert shown["Is Cancel Pending"] is True and shown["Cancel Mode"] == "GRACEFUL"
            else:
                until(bed, tmp_path, "the forceful cancel", "vnflcm", "op", "show", op, *V2,
                      field="Operation State", wanted="FAILED_TEMP")  # fmt: skip
        finally:
            faults.heal(bed, "site-1")
        failed = until(bed, tmp_path, f"the {mode} cancel", "vnflcm", "op", "show", op, *V2,
                       field="Operation State", wanted="FAILED_TEMP", wait=240)  # fmt: skip
        assert failed["Is Cancel Pending"] is False and mode in failed["Error"]["detail"]
        ran = openstack(bed, tmp_path, "vnflcm", "op", "rollback", op, *V2)
        assert ran.returncode == 0 and "accepted" in ran.stdout, ran
        until(bed, tmp_path, "the rollback", "vnflcm", "op", "show", op, *V2,
              field="Operation State", wanted="ROLLED_BACK", wait=240)  # fmt: skip
    shown = ok_json(bed, tmp_path, "vnflcm", "show", instance, *V2)
    assert shown["Instantiation State"] == "NOT_INSTANTIATED"
    ran = openstack(bed, tmp_path, "vnflcm", "delete", instance, *V2)
    assert ran.returncode == 0, ran.stderr
