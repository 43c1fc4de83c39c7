"""This site's link to its hub once it has joined: where the hub is, who the site is, TLS.

STAND-IN for the ``join`` lane's module of the same name (the interface below is theirs:
``HubLink.load(data_dir)``, ``url``, ``sync_url``, ``site_id``, ``site_name``,
``ssl_context()``); replaced by theirs when it lands on main.

Files under ``<data dir>/hub/`` (sync/PROTOCOL.md): ``ca.pem`` (the hub CA), ``site.key``
and ``site.pem`` (the site's client certificate) and ``link.json`` (``hub_url``,
``site_id``, ``site_name``, ``joined_at``).
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path

from atoll.certs import client_ssl_context
from atoll.errors import ConfigError

HUB_DIR = "hub"


@dataclass(frozen=True)
class HubLink:
    url: str
    site_id: str
    site_name: str
    folder: Path

    @classmethod
    def load(cls, data_dir: Path) -> HubLink | None:
        """The link of a joined site, or None when it has not joined."""
        folder = data_dir / HUB_DIR
        try:
            link = json.loads((folder / "link.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{folder / 'link.json'} is unreadable: {exc}") from exc
        return cls(str(link["hub_url"]).rstrip("/"), link["site_id"], link["site_name"], folder)

    @property
    def sync_url(self) -> str:
        return self.url.replace("https://", "wss://", 1) + "/v1/sync"

    def ssl_context(self) -> ssl.SSLContext:
        """Trust the hub CA only, and present the site certificate."""
        ctx = client_ssl_context(self.folder / "ca.pem")
        try:
            ctx.load_cert_chain(self.folder / "site.pem", self.folder / "site.key")
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the site certificate in {self.folder}: {exc}") from exc
        return ctx
