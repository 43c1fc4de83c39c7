"""``atoll hub serve`` refuses plain HTTP off loopback; ``hub init`` refuses to run twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from atoll.errors import ConfigError, Conflict
from atoll.hub import bootstrap
from atoll.hub.serve import tls_context
from atoll.hub.settings import HubSettings
from atoll.listening import is_loopback


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hub")
    assert bootstrap.init(path, "a-password", ["hub.example.net", "10.1.2.3"]) is None
    return path


ANY = "0.0.0.0"  # noqa: S104 (the setting under test)


def test_plain_http_only_on_loopback(data_dir: Path) -> None:
    layout = bootstrap.DataDir(data_dir)
    assert tls_context(HubSettings(data_dir=data_dir, host=ANY), layout) is not None
    assert tls_context(HubSettings(host="127.0.0.1", insecure_http=True), layout) is None
    for host in (ANY, "10.1.2.3", "hub.example.net"):
        with pytest.raises(ConfigError, match="loopback"):
            tls_context(HubSettings(host=host, insecure_http=True), layout)
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("::")


def test_init_twice_is_refused_and_keys_are_private(data_dir: Path) -> None:
    with pytest.raises(Conflict, match="already initialised"):
        bootstrap.init(data_dir, None, [])
    for name in ("ca-key.pem", "hub-key.pem", "token-key.pem", "seed.json"):
        assert (data_dir / name).stat().st_mode & 0o077 == 0, name
    text = (data_dir / "seed.json").read_text()
    assert "a-password" not in text and "argon2id" in text


def test_server_certificate_names(data_dir: Path) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((data_dir / "hub.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = {str(n.value) for n in sans}
    assert {"localhost", "127.0.0.1", "hub.example.net", "10.1.2.3"} <= names


def test_generated_admin_password_is_returned_once(tmp_path: Path) -> None:
    password = bootstrap.init(tmp_path / "d", None, [])
    assert password and len(password) >= 20
    assert password not in (tmp_path / "d" / "seed.json").read_text()


def test_renewing_the_server_certificate_keeps_its_names_and_the_ca(tmp_path: Path) -> None:
    from cryptography import x509

    data = tmp_path / "hub"
    bootstrap.init(data, "a-password", ["hub.example.net"])
    before = (data / "hub.pem").read_bytes()
    cert = bootstrap.renew_server_cert(data, ["hub2.example.net"], days=30)
    assert (data / "hub.pem").read_bytes() != before
    names = {str(n.value) for n in cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value}  # fmt: skip
    assert {"localhost", "127.0.0.1", "hub.example.net", "hub2.example.net"} <= names
    ca = x509.load_pem_x509_certificate((data / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert (data / "hub-key.pem").stat().st_mode & 0o077 == 0
    layout = bootstrap.DataDir(data)
    assert tls_context(HubSettings(data_dir=data, host=ANY), layout) is not None  # key matches
