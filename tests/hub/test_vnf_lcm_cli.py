"""``atoll vnf instance ...`` and ``atoll vnf op ...`` against a real served hub (its site
never reports, so the operation waits, and says why, until it is cancelled)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.cli import main
from tests.hub.test_user_story import ADMIN_PASSWORD, Hub, cli, hub, login
from tests.nfv.packages import carry, copy_package

pytestmark = pytest.mark.integration
__all__ = ["hub"]  # the served hub fixture


def test_instance_lifecycle_commands(
    hub: Hub, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    login(capsys, hub, "admin", ADMIN_PASSWORD)
    cli(capsys, "project", "create", "a")
    cli(capsys, "site", "create", "s1")
    cli(capsys, "user", "create", "alice", "--password", "alice-password")
    cli(capsys, "role", "add", "--user", "alice", "--project", "a", "--role", "member")
    login(capsys, hub, "alice", "alice-password", "--project", "a")
    package_dir = carry(copy_package("getting-started", tmp_path), b"image bits" * 4096)
    package = cli(capsys, "vnf", "package", "upload", str(package_dir))

    instance = cli(capsys, "vnf", "instance", "create", package["vnfdId"], "--name", "gs")
    assert instance["instantiationState"] == "NOT_INSTANTIATED"
    listed = cli(capsys, "vnf", "instance", "list")
    assert [i["id"] for i in listed] == [instance["id"]]
    started = cli(
        capsys, "vnf", "instance", "instantiate", instance["id"], "--flavour", "simple",
        "--site", "s1",
    )  # fmt: skip
    op_id = started["operation"]
    occ = cli(capsys, "vnf", "op", "show", op_id)
    assert occ["operation"] == "INSTANTIATE"
    assert occ["operationState"] in ("STARTING", "PROCESSING")
    ops = cli(capsys, "vnf", "op", "list", "--instance", instance["id"])
    assert [o["id"] for o in ops] == [op_id]
    # one operation at a time: the terminate is refused, naming the running one
    code = main(["vnf", "instance", "terminate", instance["id"]])
    assert code != 0 and op_id in capsys.readouterr().err
    # the site never joined: the operation waits for it and says so
    for _ in range(100):
        occ = cli(capsys, "vnf", "op", "show", op_id)
        if occ["sites"] and "enrolling" in occ["sites"][0]["message"]:
            break
    assert occ["operationState"] == "PROCESSING" and occ["sites"][0]["siteName"] == "s1"
    assert main(["vnf", "op", "retry", op_id]) != 0  # not FAILED_TEMP
    assert "FAILED_TEMP" in capsys.readouterr().err
    shown = cli(capsys, "vnf", "instance", "show", instance["id"])
    assert shown["vnfdId"] == package["vnfdId"]
    # every output option, as on every other show: -c picks, value prints the values alone
    argv = ["vnf", "instance", "show", instance["id"], "-f", "value", "-c", "vnfInstanceName"]
    assert main(argv) == 0 and capsys.readouterr().out == "gs\n"
    assert main(["vnf", "op", "show", op_id, "-f", "value", "-c", "operation"]) == 0
    assert capsys.readouterr().out == "INSTANTIATE\n"
    assert main(["vnf", "instance", "delete", instance["id"]]) != 0  # its operation runs
    assert op_id in capsys.readouterr().err
    # the site will not come: cancel (FORCEFUL, not waiting for it), then roll back
    occ = cli(capsys, "vnf", "op", "cancel", op_id, "--forceful", "--wait", "--timeout", "60")
    assert occ["operationState"] == "FAILED_TEMP" and occ["error"]["title"] == "cancelled"
    assert main(["vnf", "op", "cancel", op_id]) != 0  # FAILED_TEMP: nothing to cancel
    assert "FAILED_TEMP" in capsys.readouterr().err
