"""``atoll hub init``: the data directory, keys, CA, server certificate and the first admin.

Layout of the data directory (private keys mode 0600)::

    ca.pem, ca-key.pem          the CA sites and clients trust (give ca.pem to clients)
    hub.pem, hub-key.pem        the hub's TLS server certificate, from that CA
    token-key.pem               the Ed25519 token signing key (never leaves the hub)
    token-public.pem            its public key (sites verify tokens with it, offline)
    seed.json                   the first admin (name, argon2 hash), loaded into an empty store

The store is seeded when the hub first serves on it (:func:`seed_store`), so the same data
directory works with SQLite, etcd or the in-memory store.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from atoll import certs, ids, tokens
from atoll.errors import ConfigError, Conflict
from atoll.hub.identity import assignments
from atoll.hub.settings import CA_CERT_FILE, CA_KEY_FILE
from atoll.hub.store.base import ListQuery, Put, Store
from atoll.passwords import Passwords, new_secret
from atoll.private_files import sqlite_files
from atoll.timestamps import now_iso

log = logging.getLogger(__name__)

ADMIN_USER = "admin"


@dataclass(frozen=True)
class DataDir:
    path: Path

    @property
    def ca_cert(self) -> Path:
        return self.path / CA_CERT_FILE

    @property
    def ca_key(self) -> Path:
        return self.path / CA_KEY_FILE

    @property
    def server_cert(self) -> Path:
        return self.path / "hub.pem"

    @property
    def server_key(self) -> Path:
        return self.path / "hub-key.pem"

    @property
    def token_key(self) -> Path:
        return self.path / "token-key.pem"

    @property
    def token_public(self) -> Path:
        return self.path / "token-public.pem"

    @property
    def seed(self) -> Path:
        return self.path / "seed.json"

    @property
    def secret_files(self) -> list[Path]:
        """What no other local user may read: keys, the admin seed, the SQLite store."""
        keys = [self.ca_key, self.server_key, self.token_key, self.seed]
        return keys + sqlite_files(self.path / "hub.db")

    def check_initialised(self) -> None:
        if not self.token_key.exists():
            raise ConfigError(
                f"{self.path} is not a hub data directory; run 'atoll hub init --data-dir "
                f"{self.path}' first"
            )


def server_names(extra: list[str]) -> tuple[list[str], list[certs.IPAddress]]:
    """DNS names and IPs the hub certificate covers: loopback, this host, and ``extra``."""
    dns = ["localhost", socket.gethostname()]
    fqdn = socket.getfqdn()
    if fqdn not in dns:
        dns.append(fqdn)
    ips: list[certs.IPAddress] = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    for item in extra:
        try:
            ips.append(ipaddress.ip_address(item))
        except ValueError:
            dns.append(item)
    return list(dict.fromkeys(dns)), list(dict.fromkeys(ips))


def init(data_dir: Path, admin_password: str | None, extra_names: list[str]) -> str | None:
    """Create everything; returns the generated admin password (None if one was given)."""
    layout = DataDir(data_dir)
    if layout.token_key.exists():
        raise Conflict(f"{data_dir} is already initialised (it has {layout.token_key.name})")
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    ca = certs.new_ca()
    certs.write_pem(layout.ca_key, ca.key_pem(), private=True)
    certs.write_pem(layout.ca_cert, ca.cert_pem())
    dns, ips = server_names(extra_names)
    server = certs.issue_server_cert(ca, dns[1] if len(dns) > 1 else "localhost", dns, ips)
    certs.write_pem(layout.server_key, server.key_pem(), private=True)
    certs.write_pem(layout.server_cert, server.cert_pem())
    generated = None if admin_password else new_secret("atpw_", 18)
    password = admin_password or generated or ""
    seed = {"admin": {"name": ADMIN_USER, "_password_hash": Passwords().hash_now(password)}}
    certs.write_pem(layout.seed, json.dumps(seed).encode(), private=True)
    key = tokens.generate_signing_key()
    certs.write_pem(layout.token_public, tokens.public_key_pem(key.public_key()))
    certs.write_pem(layout.token_key, tokens.private_key_pem(key), private=True)
    return generated


def renew_server_cert(data_dir: Path, extra_names: list[str], days: int) -> x509.Certificate:
    """A new server certificate from the hub CA, for the names the current one has plus
    ``extra_names``, replacing ``hub.pem`` and ``hub-key.pem`` (a new key too). The CA,
    and so what clients and sites trust, stays; a running hub serves it after a restart."""
    layout = DataDir(data_dir)
    layout.check_initialised()
    ca = certs.load_key_and_cert(layout.ca_key, layout.ca_cert)
    try:
        old = x509.load_pem_x509_certificate(layout.server_cert.read_bytes())
        sans = old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound) as exc:
        raise ConfigError(
            f"cannot read the server certificate {layout.server_cert}: {exc}"
        ) from exc
    named = [str(n) for n in sans.get_values_for_type(x509.DNSName)]
    named += [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    dns, ips = server_names([*named, *extra_names])
    common = old.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    server = certs.issue_server_cert(ca, str(common[0].value) if common else dns[0], dns, ips, days)
    for path, data, private in (
        (layout.server_key, server.key_pem(), True),
        (layout.server_cert, server.cert_pem(), False),
    ):
        fresh = path.with_name(path.name + ".new")
        certs.write_pem(fresh, data, private=private)
        fresh.replace(path)
    log.info("renewed the hub's server certificate until %s", server.cert.not_valid_after_utc)
    return server.cert


async def seed_store(store: Store, data_dir: Path) -> bool:
    """Put the first admin (system admin role) into a store that has no users yet."""
    if (await store.list(ListQuery("user", limit=1))).items:
        return False
    try:
        admin = json.loads(DataDir(data_dir).seed.read_text())["admin"]
        name, password_hash = admin["name"], admin["_password_hash"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the admin seed in {data_dir}: {exc}") from exc
    return await seed_admin(store, name, password_hash)


async def seed_admin(store: Store, name: str, password_hash: str) -> bool:
    """Create user ``name`` with the system admin role (False if it already exists)."""
    now, user_id = now_iso(), ids.hub_id()
    user = {
        "id": user_id,
        "name": name,
        "description": "the first fleet administrator",
        "enabled": True,
        "created_at": now,
        "_password_hash": password_hash,
    }
    role = assignments.assignment_value(name, user_id, None, "admin", now)
    try:
        await store.commit(
            [
                Put("user", name, user, expect_revision=0),
                Put(assignments.KIND, role["id"], role, expect_revision=0),
            ]
        )
    except Conflict:
        return False  # another hub process sharing the store seeded it first
    log.info("seeded the store with system administrator %s", name)
    return True
