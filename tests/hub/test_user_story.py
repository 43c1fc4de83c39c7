"""The operator's story, end to end: init, serve over HTTPS (SQLite store), the CLI.

Admin logs in, creates projects A and B and a member in each, and a reader in A. The member
of A sees only A, cannot create users (403); the reader cannot create a flavor (403); a
tampered token gets 401. The hub runs as a real subprocess; the CLI runs in this process.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from atoll.cli import main
from atoll.client import HubClient
from atoll.errors import ConfigError, Forbidden, Unauthenticated
from atoll.sync.join import JoinCode
from atoll.testbed.services.ports import free_port

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "correct horse battery staple"


@dataclass
class Hub:
    url: str
    data_dir: Path
    log: Path

    @property
    def ca(self) -> str:
        return str(self.data_dir / "ca.pem")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for var in ("ATOLL_URL", "ATOLL_TOKEN", "ATOLL_CA_FILE", "ATOLL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    data_dir = tmp_path / "hub"
    atoll = [sys.executable, "-m", "atoll"]
    env = {**os.environ, "ATOLL_ADMIN_PASSWORD": ADMIN_PASSWORD}
    init = subprocess.run(
        [*atoll, "hub", "init", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert ADMIN_PASSWORD not in init.stdout + init.stderr
    assert (data_dir / "ca.pem").exists()
    port = free_port()
    log = tmp_path / "hub.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *atoll,
                "hub",
                "serve",
                "--data-dir",
                str(data_dir),
                *("--host", "127.0.0.1"),
                *("--port", str(port)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "hub serving on" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield Hub(f"https://localhost:{port}", data_dir, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """Run an ``atoll`` command in this process; its JSON output, parsed."""
    code = main([*argv, "-f", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def login(
    capsys: pytest.CaptureFixture[str], hub: Hub, user: str, password: str, *more: str
) -> str:
    cli(
        capsys,
        "login",
        "--url",
        hub.url,
        "--user",
        user,
        "--password",
        password,
        "--ca-file",
        hub.ca,
        *more,
    )
    return HubClient.from_environment().token or ""


def test_operator_story_over_https(hub: Hub, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="ca-file"):
        HubClient(hub.url).get("/v1/projects")  # the hub's CA is not trusted by default

    admin = login(capsys, hub, "admin", ADMIN_PASSWORD)
    for project in ("a", "b"):
        cli(capsys, "project", "create", project)
    for user, project, role in (
        ("alice", "a", "member"),
        ("bob", "b", "member"),
        ("carol", "a", "reader"),
    ):
        cli(capsys, "user", "create", user, "--password", f"{user}-password")
        cli(capsys, "role", "add", "--user", user, "--project", project, "--role", role)
    assert {p["name"] for p in cli(capsys, "project", "list")} == {"a", "b"}
    flavor = cli(
        capsys,
        "flavor",
        "create",
        "small",
        "--vcpus",
        "2",
        "--ram",
        "2048",
        "--disk",
        "10",
        "--property",
        "hugepages=1G",
        "--property",
        "dedicated_cpus=true",
    )
    assert flavor["extra_specs"]["hugepages"] == "1G"
    join = cli(capsys, "site", "token", "create", "edge-1", "--ttl", "600")
    assert join["token"] and join["site"] == "edge-1"
    assert main(["site", "token", "create", "edge-1", "--ttl", "600"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1  # one line, for 'atoll site-agent join'
    code = JoinCode.decode(printed)
    assert code.hub_url.endswith(hub.url.rsplit(":", 1)[1]) and code.token != join["token"]
    listed = cli(capsys, "site", "token", "list")
    assert "token" not in listed[0] and listed[0]["site"] == "edge-1"
    assert cli(capsys, "site", "show", "edge-1")["state"] == "enrolling"
    placed = cli(
        capsys,
        "site",
        "set",
        "edge-1",
        "--region",
        "north",
        "--label",
        "rack=r7",
        "--lat",
        "59.3",
        "--lon",
        "18.1",
        "--state",
        "maintenance",
    )
    assert placed["labels"] == {"rack": "r7"} and placed["state"] == "maintenance"
    assert placed["location"] == {"latitude": 59.3, "longitude": 18.1}

    login(capsys, hub, "alice", "alice-password", "--project", "a")
    assert [p["name"] for p in cli(capsys, "project", "list")] == ["a"]
    assert main(["user", "create", "mallory", "--password", "12345678"]) == 1
    assert "may not call users.create" in capsys.readouterr().err
    with pytest.raises(Forbidden):
        HubClient.from_environment().post("/v1/users", {"name": "m", "password": "12345678"})

    reader = login(capsys, hub, "carol", "carol-password", "--project", "a")
    with pytest.raises(Forbidden):
        HubClient(hub.url, reader, hub.ca).post(
            "/v1/flavors", {"name": "tiny", "vcpus": 1, "ram_mb": 64, "disk_gb": 1}
        )

    head, payload, signature = admin.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    claims["sub"] = "carol"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for bad in (f"{head}.{forged}.{signature}", admin[:-4] + "AAAA"):
        with pytest.raises(Unauthenticated):
            HubClient(hub.url, bad, hub.ca).get("/v1/projects")

    log = hub.log.read_text()
    for secret in (ADMIN_PASSWORD, "alice-password", admin, join["token"]):
        assert secret not in log
