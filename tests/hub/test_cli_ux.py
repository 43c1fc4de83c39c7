"""The CLI at openstackclient's level, against a real hub (HTTPS, its own process).

Profiles (``atoll login --cloud``, ``--cloud``, ``ATOLL_CLOUD``, an application credential
profile getting its own token), ``-c`` with every ``-f``, ``--debug`` showing each request
and reply with no secret in it, and the hub's log file (``--log-file``, JSON) where the
request id an error body shows finds the request's line. Completion and "did you mean" are
in tests/core/test_cli.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tomllib
import urllib.parse
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from atoll.cli import main
from tests.fixtures import assert_refused_busy_port
from tests.security.daemons import HUB_ADMIN_PASSWORD, RunningHub, running_hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    work = tmp_path_factory.mktemp("cli-hub")
    log_file = work / "logs" / "hub.log"
    with running_hub(
        work, global_args=["--log-format", "json"], serve_args=["--log-file", str(log_file)]
    ) as running:
        yield running


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config dir of its own, and no ATOLL_* variable from outside."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for var in ("ATOLL_URL", "ATOLL_TOKEN", "ATOLL_CA_FILE", "ATOLL_CLOUD", "ATOLL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "atoll"


def atoll(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, out, err = atoll(capsys, *argv)
    assert code == 0, err
    return out


def lab_login(hub: RunningHub) -> list[str]:
    """``atoll login`` into profile ``lab`` as the admin."""
    return ["login", "--cloud", "lab", "--url", hub.url, "--user", "admin", "--password",
            HUB_ADMIN_PASSWORD, "--ca-file", str(hub.ca_file), "-f", "json"]  # fmt: skip


def profiles(home: Path) -> dict[str, Any]:
    with (home / "clouds.toml").open("rb") as fh:
        clouds: dict[str, Any] = tomllib.load(fh)["clouds"]
    return clouds


def test_profiles_by_flag_and_environment_beside_the_saved_login(
    hub: RunningHub, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = atoll(capsys, "project", "list")
    assert code == 1 and "atoll login" in err
    saved = json.loads(ok(capsys, *lab_login(hub)))
    assert saved["saved_to"] == str(home / "clouds.toml")
    assert (home / "clouds.toml").stat().st_mode & 0o777 == 0o600
    assert HUB_ADMIN_PASSWORD not in (home / "clouds.toml").read_text()
    lab = profiles(home)["lab"]
    assert lab["url"] == hub.url and lab["user"] == "admin" and lab["token"]
    assert not (home / "login.json").exists()

    ok(capsys, "--cloud", "lab", "project", "create", "by-flag")
    ok(capsys, "project", "create", "after-command", "--cloud", "lab")
    monkeypatch.setenv("ATOLL_CLOUD", "lab")
    names = ok(capsys, "project", "list", "-f", "value", "-c", "name").split()
    assert {"by-flag", "after-command"} <= set(names)
    code, _, err = atoll(capsys, "--cloud", "nope", "project", "list")
    assert code == 1 and "no profile 'nope'" in err and "profiles: lab" in err
    monkeypatch.delenv("ATOLL_CLOUD")

    # the saved login of 'atoll login' without a profile keeps working
    ok(capsys, "login", "--url", hub.url, "--user", "admin", "--password", HUB_ADMIN_PASSWORD,
       "--ca-file", str(hub.ca_file))  # fmt: skip
    assert (home / "login.json").exists()
    assert "by-flag" in ok(capsys, "project", "list", "-f", "value", "-c", "name").split()


def test_an_application_credential_profile_gets_and_keeps_its_own_token(
    hub: RunningHub, home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    member = hub.tenant("ci-project", "ci-user")
    credential = hub.ok("POST", "/v1/application_credentials", {"name": "ci"}, token=member)
    home.mkdir(parents=True, exist_ok=True)
    (home / "clouds.toml").write_text(
        "[clouds.ci]\n"
        f'url = "{hub.url}"\n'
        f'ca_file = "{hub.ca_file}"\n'
        f'application_credential_id = "{credential["id"]}"\n'
        f'application_credential_secret = "{credential["secret"]}"\n'
    )
    shown = json.loads(ok(capsys, "--cloud", "ci", "token", "show", "-f", "json"))
    assert (shown["user"], shown["project"]) == ("ci-user", "ci-project")
    ci = profiles(home)["ci"]
    assert ci["token"] and ci["application_credential_secret"] == credential["secret"]
    # a token the hub refuses is replaced with a new one from the credential, and saved
    stale = (home / "clouds.toml").read_text().replace(ci["token"], "atl1.refused.token")
    (home / "clouds.toml").write_text(stale)
    assert (
        json.loads(ok(capsys, "--cloud", "ci", "token", "show", "-f", "json"))["user"] == "ci-user"
    )
    assert profiles(home)["ci"]["token"] not in (ci["token"], "atl1.refused.token")

    # 'atoll login' with an application credential saves its id and token, not its secret
    monkeypatch.setenv("ATOLL_APPLICATION_CREDENTIAL_SECRET", credential["secret"])
    ok(capsys, "login", "--cloud", "ci2", "--url", hub.url, "--ca-file", str(hub.ca_file),
       "--application-credential-id", credential["id"])  # fmt: skip
    ci2 = profiles(home)["ci2"]
    assert ci2["application_credential_id"] == credential["id"] and ci2["token"]
    assert (ci2["user"], ci2["project"]) == ("ci-user", "ci-project")
    assert credential["secret"] not in json.dumps(ci2)


def test_columns_and_every_format(
    hub: RunningHub, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok(capsys, *lab_login(hub))
    ok(capsys, "--cloud", "lab", "project", "create", "fmt-long", "--description", "d" * 80)
    ok(capsys, "--cloud", "lab", "project", "create", "fmt-short")
    base = ("--cloud", "lab", "project", "list", "-c", "name", "-c", "description")
    as_json = json.loads(ok(capsys, *base, "-f", "json"))
    assert all(set(row) == {"name", "description"} for row in as_json)
    assert yaml.safe_load(ok(capsys, *base, "-f", "yaml")) == as_json
    rows = list(csv.reader(io.StringIO(ok(capsys, *base, "-f", "csv"))))
    assert rows[0] == ["name", "description"] and len(rows) == len(as_json) + 1
    values = ok(capsys, *base, "-f", "value").splitlines()
    assert f"fmt-long {'d' * 80}" in values
    table = ok(capsys, *base, "--max-width", "40").splitlines()
    assert table[0].split() == ["NAME", "DESCRIPTION"] and max(map(len, table)) <= 40
    compact = ok(
        capsys, "--cloud", "lab", "project", "show", "fmt-short", "-f", "json", "--noindent"
    )
    assert compact.count("\n") == 1 and json.loads(compact)["name"] == "fmt-short"
    code, _, err = atoll(capsys, *base, "-c", "nmae")
    assert code == 1 and "no column 'nmae'" in err and "name, description, created_at" in err


def test_debug_shows_every_request_and_reply_and_no_secret(
    hub: RunningHub, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, login_err = atoll(capsys, "--debug", *lab_login(hub))
    assert code == 0
    token = profiles(home)["lab"]["token"]
    code, _, listed = atoll(capsys, "--debug", "--cloud", "lab", "project", "list")
    assert code == 0
    _, _, failed = atoll(capsys, "--debug", "--cloud", "lab", "project", "show", "no-such")
    for text in (login_err, listed, failed):
        assert HUB_ADMIN_PASSWORD not in text and token not in text
    assert f"REQ: POST {hub.url}/v1/auth/tokens" in login_err
    assert '"password": "***"' in login_err and '"token": "***"' in login_err
    assert f"REQ: GET {hub.url}/v1/projects" in listed and "'Authorization': '***'" in listed
    assert f"RESP: GET {hub.url}/v1/projects -> 200" in listed and '"items"' in listed
    assert "-> 404" in failed and "request_id" in failed


def test_the_request_id_of_an_error_finds_its_line_in_the_log_file(hub: RunningHub) -> None:
    missing = hub.call("GET", "/v1/projects/no-such-project")
    assert missing.status == 404
    request_id = missing.body["error"]["request_id"]
    made = hub.call("POST", "/v1/projects", {"name": "logged-project"})
    assert made.status == 201
    log_file = hub.data_dir.parent / "logs" / "hub.log"
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert len(mine) == 1
    assert mine[0]["route"] == "projects.show" and mine[0]["status"] == 404
    assert mine[0]["principal"] == "admin@system" and mine[0]["duration_ms"] >= 0
    assert mine[0]["path"] == "/v1/projects/no-such-project" and mine[0]["level"] == "info"
    created = [
        line
        for line in lines
        if line.get("request_id") == made.headers["X-Request-Id"] and "created" in line["msg"]
    ]
    assert [line["id"] for line in created] == [made.body["id"]]
    assert not any(HUB_ADMIN_PASSWORD in line["msg"] for line in lines)


def test_a_second_hub_on_a_port_in_use_says_so(hub: RunningHub, tmp_path: Path) -> None:
    """Not 'internal error: OSError' (exit 70): the address, the reason and the flag."""
    port = urllib.parse.urlsplit(hub.url).port
    data_dir = tmp_path / "second"
    atoll = [sys.executable, "-m", "atoll"]
    subprocess.run([*atoll, "hub", "init", "--data-dir", str(data_dir)], check=True,
                   capture_output=True)  # fmt: skip
    env = {**os.environ, "ATOLL_HUB_ZEROCONF": "false"}
    serve = [*atoll, "hub", "serve", "--data-dir", str(data_dir), "--host", "127.0.0.1"]
    done = subprocess.run([*serve, "--port", str(port)], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert_refused_busy_port(done, port)


@pytest.mark.parametrize(("ttl", "seconds"), [("1h", 3600), ("30m", 1800), ("600", 600)])
def test_a_join_token_lives_as_long_as_ttl_says(
    hub: RunningHub, home: Path, capsys: pytest.CaptureFixture[str], ttl: str, seconds: int
) -> None:
    """``atoll site token create edge-1 --ttl 1h``, as the README writes it."""
    ok(capsys, *lab_login(hub))
    site = f"ttl-{seconds}"
    made = json.loads(ok(capsys, "--cloud", "lab", "site", "token", "create", site, "--ttl", ttl,
                         "-f", "json"))  # fmt: skip
    lived = datetime.fromisoformat(made["expires_at"]) - datetime.fromisoformat(made["created_at"])
    assert lived.total_seconds() == seconds


def test_a_ttl_that_is_no_duration_is_refused_naming_the_forms(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["site", "token", "create", "edge-1", "--ttl", "1 hour"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'1 hour' is not a duration: give seconds (3600) or a number with s, m, h or d" in err


def test_login_to_a_project_that_does_not_exist_says_so_to_whom_it_may(
    hub: RunningHub, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A system user sees every project: the hub tells it the project does not exist. Anyone
    else sees only its own projects (another's answers 404): the same words for one that is
    missing and one that is someone else's, so a login discloses no project."""
    ok(capsys, *lab_login(hub))
    lab = ("--cloud", "lab")
    ok(capsys, *lab, "project", "create", "login-mine")
    ok(capsys, *lab, "project", "create", "login-theirs")
    ok(capsys, *lab, "user", "create", "login-bob", "--password", "login-bob-password")
    ok(capsys, *lab, "role", "add", "--user", "login-bob", "--project", "login-mine",
       "--role", "member")  # fmt: skip
    base = ["login", "--cloud", "x", "--url", hub.url, "--ca-file", str(hub.ca_file)]
    admin = [*base, "--user", "admin", "--password", HUB_ADMIN_PASSWORD]
    code, _, err = atoll(capsys, *admin, "--project", "login-nope")
    assert code == 1 and "project login-nope does not exist" in err, err
    assert "no role" not in err
    bob = [*base, "--user", "login-bob", "--password", "login-bob-password"]
    said = []
    for project in ("login-nope", "login-theirs"):
        code, _, err = atoll(capsys, *bob, "--project", project)
        assert code == 1 and f"project {project} does not exist or" in err, err
        said.append(err.replace(project, "P").split("(request")[0])
    assert said[0] == said[1]
