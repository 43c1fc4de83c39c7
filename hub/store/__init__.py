"""The hub's revisioned object store: one protocol (:mod:`.base`), several backends.

- :mod:`.memory`: in-memory; documents the contract, used by unit tests of layers above.
- :mod:`.sqlite`: the default (sqlite-utils, WAL), one file under the hub's data dir.
- :mod:`.etcd`: for operators who outgrow one machine (etcd 3.4+, through its JSON gateway).

``open_store(url, data_dir)`` picks one from the hub's ``--store`` setting::

    sqlite                      data_dir/hub.db (the default)
    sqlite:///PATH              that file (absolute path)
    etcd://HOST:PORT[,HOST:PORT...]   an etcd cluster; fails over between the endpoints
    memory                      nothing persisted (tests and demos only)
"""

from __future__ import annotations

import re
from pathlib import Path

from atoll.errors import ConfigError
from atoll.hub.store.base import Store

HOST = re.compile(r"^[A-Za-z0-9._:-]+$")  # a name, an IPv4 address, or IPv6 within [ ]
PORT = re.compile(r"^[0-9]{1,5}$")
URL_FORMS = "sqlite, sqlite:///PATH, etcd://HOST:PORT[,HOST:PORT...] or memory"


def open_store(url: str, data_dir: Path) -> Store:
    """The store ``url`` names; ConfigError (saying what is wrong) for a bad one."""
    url = url.strip()
    if url == "sqlite":
        from atoll.hub.store.sqlite import SQLiteStore

        return SQLiteStore(data_dir / "hub.db")
    if url.startswith("sqlite://"):
        from atoll.hub.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite://")
        if not path.startswith("/") or path.endswith("/"):
            raise ConfigError(f"store {url!r}: give an absolute file path, as sqlite:///PATH")
        return SQLiteStore(Path(path))
    if url.startswith("etcd://"):
        from atoll.hub.store.etcd import EtcdStore

        return EtcdStore(parse_endpoints(url))
    if url == "memory":
        from atoll.hub.store.memory import MemoryStore

        return MemoryStore()
    raise ConfigError(f"store {url!r} is not one of: {URL_FORMS}")


def parse_endpoints(url: str) -> list[tuple[str, int]]:
    """``etcd://h1:p1,h2:p2`` -> ``[("h1", p1), ("h2", p2)]``; ConfigError if malformed."""
    rest = url.removeprefix("etcd://").rstrip("/")
    endpoints = []
    for part in rest.split(","):
        host, sep, port = part.strip().rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not (sep and HOST.match(host) and PORT.match(port) and 0 < int(port) < 65536):
            raise ConfigError(
                f"store {url!r}: endpoint {part!r} is not HOST:PORT "
                "(write etcd://HOST:PORT[,HOST:PORT...])"
            )
        endpoints.append((host, int(port)))
    return endpoints
