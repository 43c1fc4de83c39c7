"""How this site reaches its hub once it has joined: the hub's URL, its CA, the site certificate.

``atoll site-agent join`` (:mod:`.enrollment`) leaves these in ``<data dir>/hub/``:

- ``ca.pem``: the hub CA (pinned at join: the join code's hash, or the token's MAC);
- ``site.key``: the site's private key (0600; made at first start, see :func:`site_key`);
- ``site.pem``: the site certificate the hub signed (CN = site name, SAN
  ``urn:atoll:site:<site id>``), replaced in place when it is renewed;
- ``link.json``: ``hub_url``, ``site_id``, ``site_name``, ``joined_at`` (written last: its
  presence means the others are complete).

The API other modules use (the image puller, the revocation poller, the sync client):

- :meth:`HubLink.load` ``(data_dir) -> HubLink | None`` (None: not joined);
- ``.url``, ``.site_id``, ``.site_name``, ``.sync_url`` (``wss://.../v1/sync``);
- :meth:`HubLink.ssl_context`: verifies the hub against ``ca.pem`` (and its name) and
  presents the site certificate. It is rebuilt when any of the three files changes, so a
  renewed certificate (or a rejoin) is used by the next connection, without a restart;
- :meth:`HubLink.client`: the one client core (:class:`atoll.client.aio.AsyncClient`) on that
  context, with no token: the hub knows the site by its certificate.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from atoll import certs
from atoll.client.aio import AsyncClient
from atoll.errors import ConfigError
from atoll.private_files import write_atomically
from atoll.watched_file import Stamp, file_stamp

HUB_DIR = "hub"
CA_FILE = "ca.pem"
KEY_FILE = "site.key"
CERT_FILE = "site.pem"
LINK_FILE = "link.json"


def hub_dir(data_dir: Path) -> Path:
    return data_dir / HUB_DIR


def site_key(data_dir: Path) -> ec.EllipticCurvePrivateKey:
    """The site's private key (``hub/site.key``, 0600), made on first use: the key its
    zeroconf advert's fingerprint names and its certificate certifies."""
    path = hub_dir(data_dir) / KEY_FILE
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(path, pem, private=True)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the site key {path}: {exc}") from exc
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{path} does not hold an ECDSA key")
    return loaded


def fingerprint(key: ec.EllipticCurvePrivateKey) -> str:
    """``sha256:<hex>`` of the site key's public half (what the advert and the hub show)."""
    return certs.key_pin(key.public_key())


@dataclass
class HubLink:
    data_dir: Path
    url: str
    site_id: str
    site_name: str
    joined_at: str = ""
    _stamp: Any = field(default=None, repr=False)
    _context: ssl.SSLContext | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, data_dir: Path) -> HubLink | None:
        """The link a join left in ``data_dir``, or None if this site has not joined."""
        path = hub_dir(data_dir) / LINK_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}; join the hub again") from exc
        try:
            return cls(
                data_dir,
                str(data["hub_url"]).rstrip("/"),
                str(data["site_id"]),
                str(data["site_name"]),
                str(data.get("joined_at", "")),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is incomplete ({exc}); join the hub again") from exc

    @property
    def directory(self) -> Path:
        return hub_dir(self.data_dir)

    @property
    def ca_file(self) -> Path:
        return self.directory / CA_FILE

    @property
    def key_file(self) -> Path:
        return self.directory / KEY_FILE

    @property
    def cert_file(self) -> Path:
        return self.directory / CERT_FILE

    @property
    def sync_url(self) -> str:
        return "wss://" + self.url.split("://", 1)[1] + "/v1/sync"

    def certificate(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the site certificate {self.cert_file}: {exc}") from exc

    def _files_stamp(self) -> tuple[Stamp | None, ...]:
        return tuple(file_stamp(path) for path in (self.ca_file, self.key_file, self.cert_file))

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts only the hub CA and presents the site certificate;
        the same object until one of the files changes."""
        with self._lock:
            stamp = self._files_stamp()
            if self._context is None or stamp != self._stamp:
                context = certs.client_ssl_context(self.ca_file)
                try:
                    context.load_cert_chain(self.cert_file, self.key_file)
                except (OSError, ssl.SSLError) as exc:
                    raise ConfigError(
                        f"cannot load the site certificate {self.cert_file}: {exc}"
                    ) from exc
                self._context, self._stamp = context, stamp
            return self._context

    def client(self, timeout: float = 60.0) -> AsyncClient:
        """A hub client that authenticates by the site certificate (no token)."""
        return AsyncClient(self.url, "", self.ssl_context(), timeout=timeout)
