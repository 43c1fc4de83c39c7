"""The hub client's saved login, its overrides, and errors turned back into error types."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll import certs
from atoll.client import HubClient, Login, error_from_body, load_login, login_path, save_login
from atoll.errors import AtollError, ConfigError, Forbidden, InvalidInput, StaleRevision


def test_saved_login_is_private_and_overridable(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert load_login(env) is None
    ca = str(tmp_path / "ca.pem")
    certs.write_pem(tmp_path / "ca.pem", certs.new_ca().cert_pem())
    path = save_login(Login("https://hub:8470", "tok", ca, "alice", "a"), env)
    assert path == tmp_path / "atoll" / "login.json" == login_path(env)
    assert path.stat().st_mode & 0o077 == 0
    client = HubClient.from_environment(env)
    assert (client.url, client.token, client.ca_file) == ("https://hub:8470", "tok", ca)
    over = {**env, "ATOLL_URL": "http://127.0.0.1:1", "ATOLL_TOKEN": "other"}
    client = HubClient.from_environment(over)
    assert (client.url, client.token) == ("http://127.0.0.1:1", "other")
    path.write_text("{broken")
    with pytest.raises(ConfigError, match="atoll login"):
        load_login(env)


def test_no_hub_configured_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="atoll login"):
        HubClient.from_environment({"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="https://host:8470"):
        HubClient("ftp://x")


def test_error_bodies_become_error_types() -> None:
    body = {"error": {"code": "forbidden", "message": "no", "request_id": "req-1"}}
    err = error_from_body(403, body)
    assert isinstance(err, Forbidden) and "req-1" in err.message
    stale = error_from_body(409, {"error": {"code": "stale_revision", "message": "m"}})
    assert isinstance(stale, StaleRevision)
    bad = error_from_body(
        400,
        {
            "error": {
                "code": "invalid_input",
                "message": "m",
                "problems": [{"where": "body.x", "what": "y"}],
            }
        },
    )
    assert isinstance(bad, InvalidInput) and bad.problems[0].where == "body.x"
    odd = error_from_body(502, "<html>")
    assert type(odd) is AtollError and "502" in odd.message
