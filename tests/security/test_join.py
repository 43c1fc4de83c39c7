"""Joining a site to the hub, from the attacker's side: nothing joins without a good token,
nothing trusts a hub without the pin, and a site certificate opens exactly what a site reads.

Real processes only: ``atoll hub serve`` (the ``hub`` fixture and a rogue second hub with its
own CA) and ``atoll site-agent join`` as a field engineer runs it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atoll import certs
from atoll.site_agent.enrollment import CertRenewer, renewal_due
from atoll.sync.join import JoinCode
from tests.security.daemons import (
    Daemon,
    RunningHub,
    hubs_on_etcd,
    running_hub,
    site_join,
    site_tls,
)


@pytest.fixture(scope="module", autouse=True)  # made before the first test: its life runs
def expiring(hub: RunningHub) -> dict[str, Any]:  # out while the others do
    """A token made at module start with the shortest lifetime; the last test uses it."""
    return hub.join_token(f"late-{secrets.token_hex(3)}", ttl=60)


@pytest.fixture(scope="module")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """Another hub, with its own CA, that would like sites to join it."""
    with running_hub(tmp_path_factory.mktemp("rogue-hub")) as running:
        yield running


def joined(hub: RunningHub, where: Path, site: str | None = None) -> tuple[str, Path]:
    """A site joined with a fresh code: (site name, its data dir)."""
    name = site or f"j-{secrets.token_hex(3)}"
    done = site_join(where, hub.join_token(name)["code"])
    assert done.returncode == 0, done.stderr
    return name, where


def refused(done: Any, says: str) -> None:
    assert done.returncode != 0, done.stdout
    assert says in done.stderr, done.stderr


def cert_serial(path: Path) -> str:
    return f"{x509.load_pem_x509_certificate(path.read_bytes()).serial_number:x}"


def renew(hub: RunningHub, data_dir: Path, cert: Path | None = None) -> Any:
    """POST /v1/sync/renew as the site (its key; ``cert`` or its current certificate)."""
    key = serialization.load_pem_private_key((data_dir / "hub" / "site.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    site = Daemon(hub.url, site_tls(data_dir, cert), token="")
    return site.call("POST", "/v1/sync/renew", {"csr": certs.new_csr(key, "x").decode()})


def test_a_join_code_joins_once_and_leaves_the_site_its_files(
    hub: RunningHub, tmp_path: Path
) -> None:
    made = hub.join_token("edge-a")
    code = JoinCode.decode(made["code"])
    assert code.token == made["token"] and code.ca_pin == certs.ca_pin(
        x509.load_pem_x509_certificate(hub.ca_file.read_bytes())
    )
    done = site_join(tmp_path / "a", made["code"])
    assert done.returncode == 0, done.stderr
    files = tmp_path / "a" / "hub"
    assert (files / "site.key").stat().st_mode & 0o077 == 0
    assert (files / "ca.pem").read_bytes() == hub.ca_file.read_bytes()
    link = json.loads((files / "link.json").read_text())
    site = hub.ok("GET", "/v1/sites/edge-a")
    assert link["site_id"] == site["id"] and link["site_name"] == "edge-a"
    assert site["cert_serial"] == cert_serial(files / "site.pem")
    assert site["agent_fingerprint"].startswith("sha256:")
    keys = hub.ok("GET", "/v1/auth/keys", token="")["keys"]
    assert (tmp_path / "a" / "hub_public_key.pem").read_text() == keys[0]["public_key_pem"]
    again = site_join(tmp_path / "b", made["code"])
    refused(again, "already been used")
    assert not (tmp_path / "b" / "hub" / "link.json").exists()
    assert "join refused from" in hub.log and code.secret not in hub.log


def test_unknown_and_revoked_tokens_are_refused_and_logged(hub: RunningHub, tmp_path: Path) -> None:
    real = JoinCode.decode(hub.join_token("edge-u")["code"])
    unknown = JoinCode(real.hub_url, "f" * 16 + "." + secrets.token_urlsafe(24), real.ca_pin)
    refused(site_join(tmp_path / "u", unknown.encode()), "not valid")
    guessed = JoinCode(real.hub_url, real.token_id + ".guessed-secret-guess", real.ca_pin)
    refused(site_join(tmp_path / "g", guessed.encode()), "not valid")  # the MAC says so first
    key = ec.generate_private_key(ec.SECP256R1())
    body = {
        "token": guessed.token,
        "csr": certs.new_csr(key, "x").decode(),
        "agent_version": "0",
        "fingerprint": certs.key_pin(key.public_key()),
    }
    assert hub.call("POST", "/v1/sync/join", body, token="").status == 401  # and the hub
    revoked = hub.join_token("edge-r")
    hub.ok("DELETE", f"/v1/join_tokens/{revoked['id']}")
    refused(site_join(tmp_path / "r", revoked["code"]), "not valid")
    assert f"(token {'f' * 16})" in hub.log
    assert unknown.secret not in hub.log and "guessed-secret" not in hub.log


def test_a_wrong_ca_pin_sends_nothing_and_leaves_the_token_usable(
    hub: RunningHub, tmp_path: Path
) -> None:
    real = JoinCode.decode(hub.join_token("edge-p")["code"])
    wrong = JoinCode(real.hub_url, real.token, "sha256:" + "0" * 64)
    refused(site_join(tmp_path / "w", wrong.encode()), "not the hub the code was made for")
    assert not (tmp_path / "w" / "hub" / "link.json").exists()
    assert hub.ok("GET", "/v1/sites/edge-p").get("cert_serial") is None
    done = site_join(tmp_path / "ok", real.encode())  # the token was never presented
    assert done.returncode == 0, done.stderr


def test_a_rogue_hub_is_refused_by_the_pin_and_by_the_mac(
    hub: RunningHub, rogue: RunningHub, tmp_path: Path
) -> None:
    real = JoinCode.decode(hub.join_token("edge-rogue")["code"])
    bait = JoinCode.decode(rogue.join_token("edge-rogue")["code"])  # the rogue's own token
    # a code tampered to send the site to the rogue (which answers with its CA and a good MAC
    # for its own token): the real hub's pin refuses it before the token is presented
    lured = JoinCode(bait.hub_url, bait.token, real.ca_pin)
    refused(site_join(tmp_path / "l", lured.encode()), "not the hub the code was made for")
    # the real token sent to the rogue: it cannot prove it (it does not know the token)
    stolen = JoinCode(bait.hub_url, real.token, real.ca_pin)
    refused(site_join(tmp_path / "s", stolen.encode()), "not valid")
    assert "POST /v1/sync/join" not in rogue.log  # no token ever went to it
    assert rogue.ok("GET", "/v1/sites/edge-rogue").get("cert_serial") is None
    # without a pin (a token and a hub found by zeroconf) only the MAC vouches for a CA
    from atoll.sync import join

    mac = rogue.ok("GET", f"/v1/sync/ca?token_id={bait.token_id}", token="")["mac"]
    assert not join.mac_matches(join.token_digest(real.secret), rogue.ca_file.read_bytes(), mac)
    done = site_join(tmp_path / "ok", real.encode())
    assert done.returncode == 0, done.stderr


def test_a_site_certificate_reads_what_sites_read_and_nothing_else(
    hub: RunningHub, tmp_path: Path
) -> None:
    name, data = joined(hub, tmp_path / "s")
    other, _ = joined(hub, tmp_path / "o")
    site = hub.as_site(data)
    assert site.call("GET", "/v1/revocations").status == 200
    assert site.call("GET", f"/v1/sites/{name}/image_transfers").status == 200
    assert site.call("GET", f"/v1/sites/{other}/image_transfers").status == 403
    assert f"site {name}'s certificate was used to reach site {other}" in hub.log
    image = hub.ok("POST", "/v1/images", {"name": "i", "disk_format": "raw"})
    assert site.call("GET", f"/v1/images/{image['id']}/manifest").status in (404, 409)
    for method, path in (
        ("GET", "/v1/users"),
        ("GET", "/v1/images"),
        ("POST", "/v1/images"),
        ("GET", "/v1/join_tokens"),
        ("DELETE", f"/v1/sites/{other}"),
    ):
        assert site.call(method, path, {}).status == 401, (method, path)
    assert hub.ok("GET", f"/v1/sites/{other}")["name"] == other


def test_a_replaced_or_orphaned_certificate_is_refused(hub: RunningHub, tmp_path: Path) -> None:
    name, data = joined(hub, tmp_path / "s")
    original = tmp_path / "original.pem"
    original.write_bytes((data / "hub" / "site.pem").read_bytes())
    first = renew(hub, data)
    assert first.status == 200, first
    site = hub.ok("GET", f"/v1/sites/{name}")
    assert site["previous_cert_serial"] == cert_serial(original)
    (data / "hub" / "site.pem").write_text(first.body["certificate"])
    assert site["cert_serial"] == cert_serial(data / "hub" / "site.pem")
    old = Daemon(hub.url, site_tls(data, original), token="")
    assert old.call("GET", "/v1/revocations").status == 200  # previous: still good, once
    second = renew(hub, data)
    assert second.status == 200, second
    (data / "hub" / "site.pem").write_text(second.body["certificate"])
    assert old.call("GET", "/v1/revocations").status == 401
    image = hub.ok("POST", "/v1/images", {"name": "r", "disk_format": "raw"})
    assert old.call("GET", f"/v1/images/{image['id']}/manifest").status == 401
    assert renew(hub, data, original).status == 401
    assert "site certificate refused from" in hub.log
    assert hub.as_site(data).call("GET", "/v1/revocations").status == 200
    hub.ok("DELETE", f"/v1/sites/{name}")  # the site is gone: so is its certificate
    assert hub.as_site(data).call("GET", "/v1/revocations").status == 401
    assert renew(hub, data).status == 401


def test_a_site_renewing_in_a_loop_is_throttled_and_others_renew(
    hub: RunningHub, tmp_path: Path
) -> None:
    """Each renewal signs a certificate and writes the site record: a rogue site renewed in
    a loop as fast as the hub answered. Now a site renews at most ``[hub]
    site_renewals_per_hour`` (6) times an hour; one more is a 429 with Retry-After, and
    nothing is signed or written for it."""
    name, data = joined(hub, tmp_path / "s")
    for _ in range(6):  # a site renews every 60 days: six in an hour is a lot of retries
        reply = renew(hub, data)
        assert reply.status == 200, reply
        (data / "hub" / "site.pem").write_text(reply.body["certificate"])
    serial = hub.ok("GET", f"/v1/sites/{name}")["cert_serial"]
    for _ in range(20):
        reply = renew(hub, data)
        assert reply.status == 429, reply
        assert 3000 < int(reply.headers["Retry-After"]) <= 3601, reply.headers
    assert "certificate renewals" in reply.message and name in reply.message
    assert hub.ok("GET", f"/v1/sites/{name}")["cert_serial"] == serial  # nothing written
    assert hub.as_site(data).call("GET", "/v1/revocations").status == 200  # it still works
    _, other = joined(hub, tmp_path / "o")
    assert renew(hub, other).status == 200  # another site: its own count


@pytest.fixture(name="hubs_on_etcd")
def two_hubs(tmp_path: Path) -> Iterator[tuple[RunningHub, RunningHub]]:
    """Two hub processes on one etcd store, as a scale-out hub runs."""
    with hubs_on_etcd(tmp_path) as hubs:
        yield hubs


def test_hubs_on_one_store_allow_a_site_its_renewals_in_all_not_each(
    hubs_on_etcd: tuple[RunningHub, RunningHub], tmp_path: Path
) -> None:
    """The renewal count was kept in each hub process's memory: two hubs on one etcd store
    allowed a rogue site twice ``site_renewals_per_hour``, ten hubs ten times. Now the
    renewals are counted in the site's record, which every hub on the store reads."""
    first, second = hubs_on_etcd
    name, data = joined(first, tmp_path / "s")
    for i in range(6):  # the site's calls land on either hub, as behind a load balancer
        reply = renew((first, second)[i % 2], data)
        assert reply.status == 200, reply
        (data / "hub" / "site.pem").write_text(reply.body["certificate"])
    serial = first.ok("GET", f"/v1/sites/{name}")["cert_serial"]
    for hub in (first, second):  # each had counted 3: both allowed 3 more before
        reply = renew(hub, data)
        assert reply.status == 429, reply
        assert 3000 < int(reply.headers["Retry-After"]) <= 3601, reply.headers
        assert "certificate renewals" in reply.message and name in reply.message
    assert second.ok("GET", f"/v1/sites/{name}")["cert_serial"] == serial  # nothing written
    assert second.as_site(data).call("GET", "/v1/revocations").status == 200
    _, other = joined(second, tmp_path / "o")
    assert renew(first, other).status == 200  # another site: its own count


def test_a_deleted_sites_certificate_does_not_reach_a_new_site_of_its_name(
    hub: RunningHub, tmp_path: Path
) -> None:
    """The hub remembers the name a site id was found under (SiteNames); a new site made
    under the old one's name has another id, and the old certificate names the old one."""
    name, data = joined(hub, tmp_path / "s")
    old = hub.as_site(data)
    assert old.call("GET", "/v1/revocations").status == 200  # found once: its name is kept
    hub.ok("DELETE", f"/v1/sites/{name}")
    hub.ok("POST", "/v1/sites", {"name": name})
    assert old.call("GET", "/v1/revocations").status == 401
    assert old.call("GET", f"/v1/sites/{name}/image_transfers").status == 401
    assert renew(hub, data).status == 401


def test_no_certificate_no_renewal_and_a_foreign_ca_fails_the_handshake(
    hub: RunningHub, rogue: RunningHub, tmp_path: Path
) -> None:
    reply = hub.call("POST", "/v1/sync/renew", {"csr": "x"}, token="")
    assert reply.status == 401
    _, data = joined(rogue, tmp_path / "r")  # a genuine certificate, from the other CA
    foreign = site_tls(data)
    foreign.load_verify_locations(cafile=str(hub.ca_file))
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        Daemon(hub.url, foreign, token="").call("GET", "/v1/revocations")


def test_the_certificate_renews_itself_at_two_thirds_of_its_lifetime(
    hub: RunningHub, tmp_path: Path
) -> None:
    """The agent's renewer against the real hub, its clock moved instead of waiting 60 days."""
    name, data = joined(hub, tmp_path / "s")
    pem = data / "hub" / "site.pem"
    before = x509.load_pem_x509_certificate(pem.read_bytes())
    due = renewal_due(before)
    start, end = before.not_valid_before_utc.timestamp(), before.not_valid_after_utc.timestamp()
    assert due == pytest.approx(start + (end - start) * 2 / 3)
    early = CertRenewer(data, clock=lambda: due - 7200, max_wait=86400)
    assert asyncio.run(early.renew_if_due()) == pytest.approx(7200, abs=5)
    assert cert_serial(pem) == f"{before.serial_number:x}"  # not yet
    late = CertRenewer(data, clock=lambda: due + 1, max_wait=86400)
    asyncio.run(late.renew_if_due())
    assert cert_serial(pem) != f"{before.serial_number:x}"
    site = hub.ok("GET", f"/v1/sites/{name}")
    assert site["cert_serial"] == cert_serial(pem)
    assert site["previous_cert_serial"] == f"{before.serial_number:x}"
    assert hub.as_site(data).call("GET", "/v1/revocations").status == 200  # the new one works


def test_a_site_that_joins_again_keeps_its_id_and_its_data(hub: RunningHub, tmp_path: Path) -> None:
    """Offline past its certificate's expiry: the operator gives it a new code; the site's
    own state (anything in its data dir) stays, only the hub files are new."""
    name, data = joined(hub, tmp_path / "s")
    site_id = hub.ok("GET", f"/v1/sites/{name}")["id"]
    old_cert = tmp_path / "old.pem"
    old_cert.write_bytes((data / "hub" / "site.pem").read_bytes())
    (data / "agent-state.marker").write_text("local state")
    hub.ok("PATCH", f"/v1/sites/{name}", {"state": "maintenance"})
    hub.ok("PATCH", f"/v1/sites/{name}", {"state": "offline"})
    done = site_join(data, hub.join_token(name)["code"])
    assert done.returncode == 0, done.stderr
    assert (data / "agent-state.marker").read_text() == "local state"
    site = hub.ok("GET", f"/v1/sites/{name}")
    assert site["id"] == site_id and site["cert_serial"] == cert_serial(data / "hub" / "site.pem")
    assert (
        Daemon(hub.url, site_tls(data, old_cert), token="").call("GET", "/v1/revocations").status
        == 401
    )


def test_guessing_join_tokens_is_throttled_per_address(hub: RunningHub, tmp_path: Path) -> None:
    """Like failed logins: an address that keeps failing gets 429; others join on."""
    real = JoinCode.decode(hub.join_token("edge-t")["code"])
    guesser = "127.0.0.23"
    for _ in range(5):
        guess = hub.call("GET", f"/v1/sync/ca?token_id={'e' * 16}", token="", source=guesser)
        assert guess.status == 401, guess
    slowed = hub.call("GET", f"/v1/sync/ca?token_id={real.token_id}", token="", source=guesser)
    assert slowed.status == 429 and "Retry-After" in slowed.headers, slowed
    done = site_join(tmp_path / "ok", real.encode())  # another address: not slowed
    assert done.returncode == 0, done.stderr


def test_an_expired_token_is_refused(
    hub: RunningHub, expiring: dict[str, Any], tmp_path: Path
) -> None:
    left = time.mktime(time.strptime(expiring["expires_at"], "%Y-%m-%dT%H:%M:%SZ"))
    time.sleep(max(0.0, left - time.mktime(time.gmtime()) + 1.5))
    refused(site_join(tmp_path / "x", expiring["code"]), "expired")
