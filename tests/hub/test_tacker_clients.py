"""``openstack vnf package ...`` (python-tackerclient's plugin, unchanged) against a real hub.

The real python-openstackclient and python-tackerclient (dev dependencies) drive ``atoll hub
serve`` over HTTPS with ``OS_AUTH_URL`` at its Keystone v3 facade and no other endpoint: the
catalog's ``nfv-orchestration`` entry leads them to ``/vnfpkgm/v1``. A project member
creates, uploads, lists (over several pages: the hub serves 2 per page, tackerclient follows
the ``Link`` header), shows, disables, downloads (content, VNFD, an artifact) and deletes a
package.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openstackclient import shell
from osc_lib import clientmanager

from tests.nfv.packages import carrying, to_zip
from tests.security.daemons import RunningHub

pytestmark = pytest.mark.integration

PASSWORD = "tacker-pw-7f3a9c"
# 2 packages a page, so a list of 4 takes the Link; every command logs in with the password
# (argon2 at its cheapest here: the test is about the API, not the hash's cost)
HUB_CONFIG = """
[hub]
nfv_page_size = 2
password_time_cost = 1
password_memory_kib = 8192
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = RunningHub.start(tmp_path_factory.mktemp("tacker-hub"), config=HUB_CONFIG)
    try:
        running.ok("POST", "/v1/projects", {"name": "tk-telco"})
        running.ok("POST", "/v1/users", {"name": "tk-oper", "password": PASSWORD})
        grant = {"user": "tk-oper", "project": "tk-telco", "role": "member"}
        running.ok("POST", "/v1/role_assignments", grant)
        yield running
    finally:
        running.stop()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def openstack(hub: RunningHub, home: Path, *args: str) -> Ran:
    """``openstack vnf package ARGS`` as the project member (see :func:`run_openstack`)."""
    return run_openstack(
        hub.url, hub.ca_file, home, ["vnf", "package", *args], "tk-oper", PASSWORD, "tk-telco"
    )


def run_openstack(
    url: str, ca_file: Path, home: Path, argv: list[str], user: str, password: str, project: str
) -> Ran:
    """``openstack ARGV`` as ``user`` of ``project``, logged in at the hub's ``/identity/v3``,
    with only these OS_* variables (none of the machine's own, no clouds.yaml). The real
    ``openstack`` command, run in this process (its entry point,
    ``openstackclient.shell.main``): a fresh interpreter per command costs seconds of imports
    each. Each command gets fresh plugin clients, as a process of its own would
    (openstackclient caches them on its ClientManager class: tackerclient's keeps
    per-request state, such as the Accept of the last PATCH)."""
    env = {
        "HOME": str(home),
        "OS_AUTH_URL": f"{url}/identity/v3",
        "OS_CACERT": str(ca_file),
        "OS_USERNAME": user,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
    }
    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        for key in [k for k in os.environ if k.startswith("OS_")]:
            del os.environ[key]
        os.environ.update(env)
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            warnings.catch_warnings(),  # openstackclient ignores every warning, process-wide
            _logging_kept(),  # and sets up logging as a process of its own would
        ):
            code = shell.main(argv)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        for cache in vars(clientmanager.ClientManager).values():
            if isinstance(cache, clientmanager.ClientCache):
                cache._handle = None
    return Ran(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """Logging as it was before: openstackclient's shell sets the root logger to DEBUG with a
    handler of its own and levels on the loggers it knows, which would outlive the command
    in this test process."""
    manager = logging.root.manager
    levels = {
        name: (logger.level, list(logger.handlers), logger.propagate)
        for name, logger in [("", logging.root), *manager.loggerDict.items()]
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        for name, logger in [("", logging.root), *manager.loggerDict.items()]:
            if not isinstance(logger, logging.Logger):
                continue
            level, handlers, propagate = levels.get(name, (logging.NOTSET, [], True))
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate


def ok(result: Ran) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def shown(hub: RunningHub, home: Path, package_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ok(openstack(hub, home, "show", package_id, "-f", "json")))
    return data


def test_a_package_through_its_life_with_openstack_vnf_package(
    hub: RunningHub, tmp_path: Path
) -> None:
    created = json.loads(
        ok(openstack(hub, tmp_path, "create", "--user-data", "team=core", "-f", "json"))
    )
    package_id = created["ID"]
    assert created["Onboarding State"] == "CREATED"
    assert created["User Defined Data"] == {"team": "core"}

    csar = tmp_path / "package.zip"
    script = b"#!/bin/sh\necho configured\n"
    csar.write_bytes(to_zip({**carrying(b"\1" * 4096), "Scripts/install.sh": script}))
    assert "accepted" in ok(openstack(hub, tmp_path, "upload", "--path", str(csar), package_id))
    deadline = time.monotonic() + 120
    while (package := shown(hub, tmp_path, package_id))["Onboarding State"] in (
        "CREATED",
        "PROCESSING",
    ):
        assert time.monotonic() < deadline, package
        time.sleep(0.5)
    assert package["Onboarding State"] == "ONBOARDED", package
    assert package["Operational State"] == "ENABLED" and package["Usage State"] == "NOT_IN_USE"
    assert package["Checksum"]["algorithm"] == "SHA-256"
    assert package["Links"]["packageContent"]["href"].endswith(
        f"/vnfpkgm/v1/vnf_packages/{package_id}/package_content"
    )
    assert package["VNF Product Name"]

    others = [
        json.loads(ok(openstack(hub, tmp_path, "create", "-f", "json")))["ID"] for _ in range(3)
    ]
    pages = hub.log.count("(route vnf_packages.list,")
    listed = json.loads(ok(openstack(hub, tmp_path, "list", "-f", "json")))
    assert sorted(p["Id"] for p in listed) == sorted([package_id, *others])
    assert hub.log.count("(route vnf_packages.list,") - pages == 2  # 2 per page: Link followed
    onboarded = json.loads(
        ok(
            openstack(
                hub, tmp_path, "list", "--filter", "(eq,onboardingState,ONBOARDED)", "-f", "json"
            )
        )
    )
    assert [p["Id"] for p in onboarded] == [package_id]

    enabled = openstack(hub, tmp_path, "delete", package_id)  # the hub's ProblemDetails shown
    assert enabled.returncode != 0 and "disable it first" in enabled.stderr, enabled
    updated = json.loads(
        ok(
            openstack(
                hub, tmp_path, "update", "--operational-state", "DISABLED", package_id, "-f", "json"
            )
        )
    )
    assert updated["Operational State"] == "DISABLED"
    assert shown(hub, tmp_path, package_id)["Operational State"] == "DISABLED"

    content = tmp_path / "content.zip"
    ok(openstack(hub, tmp_path, "download", package_id, "--file", str(content)))
    assert content.read_bytes() == csar.read_bytes()
    vnfd = tmp_path / "vnfd.zip"
    ok(
        openstack(
            hub,
            tmp_path,
            "download",
            package_id,
            "--vnfd",
            "--type",
            "application/zip",
            "--file",
            str(vnfd),
        )
    )
    with zipfile.ZipFile(vnfd) as archive:
        assert any(name.startswith("Definitions/") for name in archive.namelist())
    artifact = tmp_path / "install.sh"
    ok(
        openstack(
            hub,
            tmp_path,
            "artifact",
            "download",
            package_id,
            "Scripts/install.sh",
            "--file",
            str(artifact),
        )
    )
    assert artifact.read_bytes() == script

    assert ok(openstack(hub, tmp_path, "delete", package_id, *others)).startswith("All specified")
    assert json.loads(ok(openstack(hub, tmp_path, "list", "-f", "json"))) == []
    gone = openstack(hub, tmp_path, "show", package_id)
    assert gone.returncode != 0 and "does not exist" in gone.stderr
