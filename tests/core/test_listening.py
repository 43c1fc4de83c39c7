"""Plain HTTP only on loopback, or off it when told ``insecure`` (then warned); TLS when given."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest

from atoll import certs, listening
from atoll.errors import ConfigError

ANY = "0.0.0.0"  # noqa: S104 (the setting under test)


def test_loopback_hosts() -> None:
    for host in ("127.0.0.1", "127.3.2.1", "::1", "localhost"):
        assert listening.is_loopback(host), host
    for host in (ANY, "::", "10.0.0.1", "example.net", ""):
        assert not listening.is_loopback(host), host


def test_plain_http_off_loopback_needs_insecure(caplog: pytest.LogCaptureFixture) -> None:
    assert listening.server_tls("127.0.0.1", None, None, insecure=False, fix="do X") is None
    with pytest.raises(ConfigError, match=r"plain HTTP on 0\.0\.0\.0.*do X"):
        listening.server_tls(ANY, None, None, insecure=False, fix="do X")
    with caplog.at_level(logging.WARNING):
        assert listening.server_tls(ANY, None, None, insecure=True, fix="do X") is None
    assert "plain HTTP on 0.0.0.0" in caplog.text


def test_cert_and_key_give_a_context_anywhere(tmp_path: Path) -> None:
    ca = certs.new_ca()
    leaf = certs.issue_server_cert(ca, "s", ["localhost"], [ipaddress.ip_address("127.0.0.1")])
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    certs.write_pem(cert, leaf.cert_pem())
    certs.write_pem(key, leaf.key_pem(), private=True)
    assert listening.server_tls(ANY, cert, key, insecure=False, fix="") is not None
    with pytest.raises(ConfigError, match="tls_key_file"):
        listening.server_tls(ANY, cert, None, insecure=True, fix="")
    with pytest.raises(ConfigError, match="cannot load TLS certificate"):
        listening.server_tls(ANY, key, cert, insecure=False, fix="")
