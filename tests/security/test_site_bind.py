"""The site API off loopback: plain HTTP is refused at start unless ``--insecure`` (then a loud
warning); with ``tls_cert_file``/``tls_key_file`` it serves HTTPS.

Before: ``atoll site-agent run --host 0.0.0.0`` served tokens and credentials over plain HTTP to
the whole network without a word, and could not serve HTTPS at all.
"""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atoll import certs
from atoll.site_agent.settings import SiteAgentSettings
from atoll.testbed.services.ports import free_port
from atoll.testbed.services.process import reap, spawn
from tests.security.daemons import ATOLL
from tests.site_agent import real_site

ANY = "0.0.0.0"  # noqa: S104 (the bind address under test)


@dataclass
class Launch:
    work: Path
    config: Path
    settings: SiteAgentSettings

    def argv(self, data_dir: Path, port: int, *extra: str) -> list[str]:
        return [str(ATOLL), "site-agent", "run", "--data-dir", str(data_dir),
                "--config", str(self.config), "--port", str(port), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:
    """The agent's settings on the drivers' fakes: what it listens on is the API's affair."""
    work = tmp_path_factory.mktemp("sec-bind")
    settings = real_site.fake_settings_for(work / "agent")
    yield Launch(work, real_site.config_file(work / "agent.toml", settings), settings)


def wait_health(
    proc: subprocess.Popen[bytes], url: str, log: Path, context: ssl.SSLContext | None = None
) -> bytes:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2, context=context) as resp:  # noqa: S310
                return bytes(resp.read())
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"agent did not come up:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.2)


def test_plain_http_off_loopback_is_refused_at_start(launch: Launch) -> None:
    argv = launch.argv(launch.work / "refused", free_port(), "--host", ANY)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done
    assert "plain HTTP" in done.stderr and ANY in done.stderr, done.stderr
    assert "tls_cert_file" in done.stderr and "--insecure" in done.stderr, done.stderr


def test_insecure_serves_plain_http_with_a_warning(launch: Launch) -> None:
    port, log = free_port(), launch.work / "insecure.log"
    proc = spawn(launch.argv(launch.work / "insecure", port, "--host", ANY, "--insecure"), log)
    try:
        assert b'"status"' in wait_health(proc, f"http://127.0.0.1:{port}", log)
        text = log.read_text()
        assert "WARNING" in text and "plain HTTP" in text and ANY in text, text
    finally:
        reap(proc, grace=20)


def test_cert_and_key_serve_https(launch: Launch) -> None:
    ca = certs.new_ca("sec-bind test CA")
    leaf = certs.issue_server_cert(ca, "site", ["localhost"], [ipaddress.ip_address("127.0.0.1")])
    ca_file, cert_file, key_file = (launch.work / n for n in ("ca.pem", "site.pem", "site-key.pem"))
    certs.write_pem(ca_file, ca.cert_pem())
    certs.write_pem(cert_file, leaf.cert_pem())
    certs.write_pem(key_file, leaf.key_pem(), private=True)
    tls = {"site_agent": {"tls_cert_file": cert_file, "tls_key_file": key_file}}
    settings = real_site.override(launch.settings, tls)
    config = real_site.config_file(launch.work / "tls.toml", settings)
    port, log = free_port(), launch.work / "tls.log"
    argv = Launch(launch.work, config, settings).argv(launch.work / "tls", port, "--host", ANY)
    proc = spawn(argv, log)
    try:
        context = ssl.create_default_context(cafile=str(ca_file))
        assert b'"status"' in wait_health(proc, f"https://127.0.0.1:{port}", log, context)
        assert "plain HTTP" not in log.read_text()
        # the CLI talks to it over HTTPS, verifying it with the CA it is given
        secret = log.read_text().split("secret:", 1)[1].split()[0]
        client = ["--site-url", f"https://127.0.0.1:{port}", "--site-ca-file", str(ca_file)]
        token = subprocess.run(
            [str(ATOLL), "site-agent", "token", *client, "--secret", secret],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        listed = subprocess.run(
            [str(ATOLL), "network", "list", *client, "--token", token, "-f", "json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert listed.stdout.strip() == "[]", listed
        untrusted = subprocess.run(
            [str(ATOLL), "network", "list", "--site-url", f"https://127.0.0.1:{port}",
             "--token", token],
            capture_output=True, text=True,
        )  # fmt: skip
        assert untrusted.returncode == 1 and "--site-ca-file" in untrusted.stderr, untrusted
        with pytest.raises((urllib.error.URLError, OSError)):  # no plain HTTP on that port
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        reap(proc, grace=20)


def test_half_a_tls_setting_is_a_config_error(launch: Launch) -> None:
    argv = launch.argv(launch.work / "half", free_port(), "--tls-cert-file", "/nonexistent.pem")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "tls_key_file" in done.stderr, done.stderr
