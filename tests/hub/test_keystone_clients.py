"""``openstack`` logs in to a real hub through its Keystone v3 facade, with no other flags.

The real python-openstackclient (a dev dependency) against ``atoll hub serve`` over HTTPS:
``OS_AUTH_URL`` is ``https://HUB/identity/v3``, the CA is the hub's. The tokens it gets are
the hub's own: they work on ``/v1`` too.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.security.daemons import HUB_ADMIN_PASSWORD, RunningHub, running_hub

pytestmark = pytest.mark.integration

OPENSTACK = Path(sys.executable).parent / "openstack"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    with running_hub(tmp_path_factory.mktemp("keystone-hub")) as running:
        yield running


def openstack(hub: RunningHub, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``openstack --os-auth-url https://HUB/identity/v3 --os-cacert ca.pem ARGS``, with no
    OS_* variables or clouds.yaml of the machine's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(home)
    argv = [str(OPENSTACK), "--os-auth-url", f"{hub.url}/identity/v3"]
    argv += ["--os-cacert", str(hub.ca_file), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)


def issued(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_token_issue_by_password_and_application_credential(
    hub: RunningHub, tmp_path: Path
) -> None:
    hub.ok("POST", "/v1/projects", {"name": "ks-telco"})
    project = hub.ok("GET", "/v1/projects/ks-telco")
    password = "ks-pw-" + secrets.token_hex(6)
    user = hub.ok("POST", "/v1/users", {"name": "ks-oper", "password": password})
    grant = {"user": "ks-oper", "project": "ks-telco", "role": "member"}
    hub.ok("POST", "/v1/role_assignments", grant)

    by_password = openstack(
        hub, tmp_path, "--os-username", "ks-oper", "--os-password", password,
        "--os-user-domain-name", "Default", "--os-project-name", "ks-telco",
        "--os-project-domain-name", "Default", "token", "issue", "-f", "json",
    )  # fmt: skip
    token = issued(by_password)
    assert token["project_id"] == project["id"] and token["user_id"] == user["id"]
    mine = hub.ok("GET", "/v1/auth/tokens/current", token=token["id"])
    assert (mine["user"], mine["project"], mine["roles"]) == ("ks-oper", "ks-telco", ["member"])

    credential = hub.ok("POST", "/v1/application_credentials", {"name": "ks-ci"}, token=token["id"])
    by_credential = openstack(
        hub, tmp_path, "--os-auth-type", "v3applicationcredential",
        "--os-application-credential-id", credential["id"],
        "--os-application-credential-secret", credential["secret"],
        "token", "issue", "-f", "json",
    )  # fmt: skip
    token = issued(by_credential)
    assert token["project_id"] == project["id"] and token["user_id"] == user["id"]
    mine = hub.ok("GET", "/v1/auth/tokens/current", token=token["id"])
    assert mine["application_credential"] == credential["id"]

    admin = openstack(
        hub, tmp_path, "--os-username", "admin", "--os-password", HUB_ADMIN_PASSWORD,
        "--os-user-domain-name", "Default", "--os-system-scope", "all",
        "token", "issue", "-f", "json",
    )  # fmt: skip
    assert hub.ok("GET", "/v1/auth/tokens/current", token=issued(admin)["id"])["system"]


def test_a_wrong_password_is_refused(hub: RunningHub, tmp_path: Path) -> None:
    refused = openstack(
        hub, tmp_path, "--os-username", "admin", "--os-password", "not-the-password",
        "--os-user-domain-name", "Default", "--os-system-scope", "all", "token", "issue",
    )  # fmt: skip
    assert refused.returncode != 0
    assert "requires authentication" in refused.stderr and "HTTP 401" in refused.stderr
