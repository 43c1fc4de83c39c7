"""Hub store writes/s: SQLiteStore and EtcdStore against the raw library doing the same writes.

- ``store_sqlite_writes``: sequential ``put`` calls (one transaction each: CAS check, object,
  change log, revision counter; WAL, synchronous=FULL) against raw batched SQLite inserts of
  the same JSON rows in one transaction (the physical best case of the file). A second line
  compares with raw inserts committed one per row (the plain per-write alternative).
- ``store_etcd_writes``: sequential ``put`` calls (one etcd transaction each) against raw
  etcd3gw ``put`` calls of the same values, on a private one-member etcd started here.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import etcd3gw

from atoll.hub.store.base import Store
from atoll.hub.store.etcd import EtcdStore
from atoll.hub.store.sqlite import SQLiteStore
from atoll.testbed.services.etcd import EtcdCluster
from bench.report import emit, median_of, rate

RUNS = 5
SQLITE_WRITES = 500
ETCD_WRITES = 300


def _value(i: int) -> dict[str, object]:
    return {"name": f"site-{i}", "region": "east", "labels": {"tier": "edge"}, "n": i}


def store_puts(open_store: Callable[[], Store], count: int) -> float:
    """``count`` sequential puts on a freshly opened store, per second."""

    async def run() -> float:
        store = open_store()
        try:
            await store.put("site", "warmup", {})
            loop = asyncio.get_running_loop()
            start = loop.time()
            for i in range(count):
                await store.put("site", f"s{i}", _value(i))
            return count / (loop.time() - start)
        finally:
            await store.close()

    return asyncio.run(run())


def sqlite_figures(tmp: Path) -> None:
    rows = [(f"s{i}", json.dumps(_value(i))) for i in range(SQLITE_WRITES)]

    def raw(batched: bool) -> float:
        conn = sqlite3.connect(tmp / f"raw-{secrets.token_hex(4)}.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE t (key TEXT PRIMARY KEY, value TEXT)")

        def work() -> None:
            if batched:
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
                conn.execute("COMMIT")
            else:
                for row in rows:
                    conn.execute("INSERT INTO t VALUES (?, ?)", row)

        r = rate(len(rows), work)
        conn.close()
        return r

    def store() -> float:
        path = tmp / f"store-{secrets.token_hex(4)}.db"
        return store_puts(lambda: SQLiteStore(path), SQLITE_WRITES)

    ours = median_of(RUNS, store)
    emit("store_sqlite_writes", ours, "writes/s", median_of(RUNS, lambda: raw(True)))
    emit("store_sqlite_writes_vs_per_row_commit", ours, "writes/s",
         median_of(RUNS, lambda: raw(False)))  # fmt: skip


def etcd_figures(tmp: Path) -> None:
    cluster = EtcdCluster(tmp / "etcd", size=1).start()
    try:
        host, port = cluster.endpoints[0]
        client = etcd3gw.client(host=host, port=port, api_path="/v3/")
        values = [json.dumps(_value(i)) for i in range(ETCD_WRITES)]

        def raw() -> float:
            prefix = f"/raw-{secrets.token_hex(4)}/"

            def work() -> None:
                for i, value in enumerate(values):
                    client.put(f"{prefix}s{i}", value)

            return rate(len(values), work)

        def store() -> float:
            prefix = f"/bench-{secrets.token_hex(4)}/"
            return store_puts(lambda: EtcdStore(cluster.endpoints, prefix=prefix), ETCD_WRITES)

        emit("store_etcd_writes", median_of(RUNS, store), "writes/s", median_of(RUNS, raw))
        client.session.close()
    finally:
        cluster.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-store-") as tmp:
        sqlite_figures(Path(tmp))
        etcd_figures(Path(tmp))


if __name__ == "__main__":
    main()
