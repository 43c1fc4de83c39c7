"""HubLink: what a join leaves in the data dir, and a TLS context that follows its files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from atoll import certs
from atoll.errors import ConfigError
from atoll.site_agent.hub_attachment import warn_retired
from atoll.site_agent.hub_link import HubLink, fingerprint, hub_dir, site_key
from atoll.site_agent.settings import HubLinkSettings


def joined(data_dir: Path, ca: certs.KeyAndCert) -> HubLink:
    """The files a join writes, signed by ``ca`` for the site's key."""
    key = site_key(data_dir)
    cert = certs.issue_site_cert(ca, certs.new_csr(key, "x"), "site-id-1", "edge-9")
    files = hub_dir(data_dir)
    (files / "ca.pem").write_bytes(ca.cert_pem())
    (files / "site.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    link = {"hub_url": "https://hub.example:8470/", "site_id": "site-id-1", "site_name": "edge-9"}
    (files / "link.json").write_text(json.dumps(link))
    loaded = HubLink.load(data_dir)
    assert loaded is not None
    return loaded


def test_not_joined_is_none_and_the_key_is_private_and_stable(tmp_path: Path) -> None:
    assert HubLink.load(tmp_path) is None
    key = site_key(tmp_path)
    assert (tmp_path / "hub" / "site.key").stat().st_mode & 0o077 == 0
    assert fingerprint(site_key(tmp_path)) == fingerprint(key)  # made once, kept
    assert fingerprint(key).startswith("sha256:") and len(fingerprint(key)) == 71


def test_a_link_names_its_hub_and_site(tmp_path: Path) -> None:
    link = joined(tmp_path, certs.new_ca())
    assert (link.url, link.site_id, link.site_name) == (
        "https://hub.example:8470",
        "site-id-1",
        "edge-9",
    )
    assert link.sync_url == "wss://hub.example:8470/v1/sync"
    assert certs.site_id_of(link.certificate()) == "site-id-1"


def test_the_tls_context_is_rebuilt_when_the_certificate_is_renewed(tmp_path: Path) -> None:
    ca = certs.new_ca()
    link = joined(tmp_path, ca)
    first = link.ssl_context()
    assert link.ssl_context() is first  # nothing changed: the same context
    assert first.verify_mode.name == "CERT_REQUIRED" and first.check_hostname
    renewed = certs.issue_site_cert(ca, certs.new_csr(site_key(tmp_path), "x"), "site-id-1", "e")
    pem = renewed.public_bytes(serialization.Encoding.PEM)
    link.cert_file.write_bytes(pem)
    stat = link.cert_file.stat()
    os.utime(link.cert_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = link.ssl_context()
    assert second is not first
    assert x509.load_pem_x509_certificate(pem).serial_number == link.certificate().serial_number


def test_damaged_files_say_join_again(tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "link.json").write_text("{not json")
    with pytest.raises(ConfigError, match="join the hub again"):
        HubLink.load(tmp_path)
    (tmp_path / "hub" / "link.json").write_text('{"hub_url": "https://h"}')
    with pytest.raises(ConfigError, match="incomplete"):
        HubLink.load(tmp_path)


def test_retired_hub_credentials_are_named_in_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warn_retired(HubLinkSettings(url="https://hub", user="site-user", password="pw"))
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(said) == 1 and "url, user, password are no longer used" in said[0]
    assert "pw" not in said[0].replace("password", "")
    caplog.clear()
    warn_retired(HubLinkSettings())
    assert not caplog.records
