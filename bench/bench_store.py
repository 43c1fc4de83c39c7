"""Hub store writes/s: SQLiteStore and EtcdStore against the raw library doing the same writes.

- ``store_sqlite_writes``: sequential ``put`` calls (one transaction each: CAS check, change
  log, whose rowid is the revision, object; WAL, synchronous=FULL) against raw batched
  SQLite inserts of the same JSON rows in one transaction (the physical best case of the
  file).
  ``..._vs_per_row_commit`` (goal >= 0.8): against the plain alternative doing the same
  durable work: a loop committing, one write per transaction, the rows a store write is (the
  object with its revisions, and its change record), each commit run on a writer thread and
  awaited from the event loop, as every store method must keep fsync off the loop.
  ``..._vs_bare_insert_on_loop_bound_by_thread_round_trip``: against one-row inserts into a
  bare two-column table committed on the calling thread (no change log, the loop blocked
  by every fsync); a lone writer cannot reach it, and the next line measures why: the same
  bare inserts, each on a writer thread and awaited, against themselves on the loop (the
  thread round trip every off-loop write pays). Figure and baselines are measured in turn,
  round after round, so a noisy neighbour hits both.
- ``store_etcd_writes_vs_raw_etcd3gw_puts`` (goal >= 0.8): sequential ``put`` calls (one
  etcd transaction each, run off the loop) against raw etcd3gw ``put`` calls of the same
  values on the calling thread, on a private one-member etcd started here, through a session
  configured as the store's used to be (pooled, no environment lookups). The store talks to
  the gateway through urllib3 directly (what requests and etcd3gw are built on), which is
  what takes it past raw etcd3gw puts: on this machine the client's CPU per call is most of a
  write's cost. ``..._off_loop``: against the same raw puts each run on a worker thread and
  awaited. ``store_etcd_writes_vs_same_txn_off_loop``: against bare transactions doing a
  put's durable work (the object with its old revisions, and the store's revision key that
  the contract's ``revision()`` and ``changes()`` read), each on a worker thread, sent
  through a urllib3 pool like the store's: what the store itself adds.
- ``..._16_writers``: the same with 16 writers at once (an API under load): SQLite commits
  queued writes together (group commit), against the batched inserts and against its bound:
  each writer waits for its commit, so one round of 16 writes takes a commit (an fsync) at
  least, and 16 x the bare one-row commits/s measured beside it is the most it can reach on
  this disk (a goal in writes/s above that is out of reach here). That ceiling leaves out
  the CPU: a round is also the Python of its 16 writes, on the event loop and the writer
  thread in turn (one GIL), and no write of the round can start before the last commit
  returned. ``..._vs_its_cpu_plus_one_commit_per_round`` sets the figure against that
  model, measured in the same run: the same 16 writers on a store that does not fsync
  (``..._16_writers_without_fsync``, ``durable=False``: the code's own time per round) plus
  one bare one-row commit (an fsync and its commit) per round, 16 / (16 / nosync + 1 /
  commit). A model, not a strict bound (its two parts are medians taken moments apart on a
  noisy machine): a ratio near 1 says the rounds hold nothing else. Issue #16's goal (20k
  writes/s: a round in 0.8 ms) is out of reach wherever a round's CPU and one commit take
  longer: on the 2-core bench machine the CPU took 0.53-1.0 ms per round and a bare commit
  0.23-0.9 ms. The etcd baseline is raw puts from 16 threads (etcd itself commits what
  arrives together in one fsync; the store keeps one transaction per put, since a
  transaction's writes share one revision and every put must have its own).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import sqlite3
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import etcd3gw
import requests
import urllib3

from atoll.hub.store.base import Store
from atoll.hub.store.etcd import EtcdStore
from atoll.hub.store.sqlite import SQLiteStore
from atoll.testbed.services.etcd import EtcdCluster
from bench.report import emit, paired_medians, rate

RUNS = 5
SQLITE_WRITES = 500
ETCD_WRITES = 300
CONCURRENCY = 16
JSON_HEADERS = {"Content-Type": "application/json"}
ROUND_BOUND = f"writes/s (bound: a round of {CONCURRENCY}'s CPU and one commit)"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _value(i: int) -> dict[str, object]:
    return {"name": f"site-{i}", "region": "east", "labels": {"tier": "edge"}, "n": i}


def store_puts(open_store: Callable[[], Store], count: int, writers: int = 1) -> float:
    """``count`` puts by ``writers`` concurrent writers on a freshly opened store, per second."""

    async def run() -> float:
        store = open_store()

        async def writer(w: int) -> None:
            for i in range(w, count, writers):
                await store.put("site", f"s{i}", _value(i))

        try:
            await store.put("site", "warmup", {})
            loop = asyncio.get_running_loop()
            start = loop.time()
            await asyncio.gather(*(writer(w) for w in range(writers)))
            return count / (loop.time() - start)
        finally:
            await store.close()

    return asyncio.run(run())


def sqlite_figures(tmp: Path) -> None:
    rows = [(f"s{i}", json.dumps(_value(i), separators=(",", ":"))) for i in range(SQLITE_WRITES)]

    def raw_db(*schema: str) -> sqlite3.Connection:
        conn = sqlite3.connect(
            tmp / f"raw-{secrets.token_hex(4)}.db", isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        for statement in schema:
            conn.execute(statement)
        return conn

    def bare_table() -> sqlite3.Connection:
        return raw_db("CREATE TABLE t (key TEXT PRIMARY KEY, value TEXT)")

    def raw(batched: bool) -> float:
        conn = bare_table()

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

    def off_loop(conn: sqlite3.Connection, write: Callable[[int], object]) -> float:
        """``write(i)`` for every row, each on a writer thread, awaited one after another."""

        async def work() -> float:
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(1) as thread:
                start = loop.time()
                for i in range(len(rows)):
                    await loop.run_in_executor(thread, write, i)
                return len(rows) / (loop.time() - start)

        try:
            return asyncio.run(work())
        finally:
            conn.close()

    def bare_off_loop() -> float:
        conn = bare_table()
        return off_loop(conn, lambda i: conn.execute("INSERT INTO t VALUES (?, ?)", rows[i]))

    def same_rows_off_loop() -> float:
        """The plain alternative: the rows a store write is (the object with its revisions,
        and the change record sync reads), committed one write per transaction."""
        conn = raw_db(
            "CREATE TABLE objects (kind TEXT, key TEXT, value TEXT, revision INTEGER,"
            " created_revision INTEGER, PRIMARY KEY (kind, key)) WITHOUT ROWID",
            "CREATE TABLE changes (revision INTEGER PRIMARY KEY, kind TEXT, key TEXT, op TEXT,"
            " value TEXT)",
        )

        def write(i: int) -> None:
            key, value = rows[i]
            conn.execute("BEGIN")
            conn.execute("INSERT INTO objects VALUES ('site', ?, ?, ?, ?)", (key, value, i, i))
            conn.execute("INSERT INTO changes VALUES (?, 'site', ?, 'put', ?)", (i, key, value))
            conn.execute("COMMIT")

        return off_loop(conn, write)

    def store(writers: int, durable: bool = True) -> float:
        path = tmp / f"store-{secrets.token_hex(4)}.db"
        return store_puts(
            lambda: SQLiteStore(path, durable=durable), SQLITE_WRITES * writers, writers
        )

    one, same_rows, per_row, per_row_off_loop, batched, many, many_nosync = paired_medians(
        RUNS,
        lambda: store(1),
        same_rows_off_loop,
        lambda: raw(False),
        bare_off_loop,
        lambda: raw(True),
        lambda: store(CONCURRENCY),
        lambda: store(CONCURRENCY, durable=False),
    )
    emit("store_sqlite_writes", one, "writes/s", batched)
    emit("store_sqlite_writes_vs_per_row_commit", one, "writes/s", same_rows)
    emit("store_sqlite_writes_vs_bare_insert_on_loop_bound_by_thread_round_trip", one,
         "writes/s", per_row)  # fmt: skip
    emit("store_sqlite_thread_round_trip_bound_bare_insert_off_vs_on_loop", per_row_off_loop,
         "writes/s", per_row)  # fmt: skip
    emit(f"store_sqlite_writes_{CONCURRENCY}_writers", many, ROUND_BOUND, batched)
    # Each writer waits for its commit, so a round of CONCURRENCY writes costs one commit at
    # least: CONCURRENCY x the disk's one-row commits/s is the most group commit can give.
    emit(f"store_sqlite_writes_{CONCURRENCY}_writers_vs_ceiling_of_one_fsync_per_round", many,
         "writes/s", CONCURRENCY * per_row)  # fmt: skip
    # A round: the code's CPU for its writes (measured without fsync) then one commit.
    model = CONCURRENCY / (CONCURRENCY / many_nosync + 1 / per_row)
    emit(f"store_sqlite_writes_{CONCURRENCY}_writers_vs_its_cpu_plus_one_commit_per_round", many,
         ROUND_BOUND, model)  # fmt: skip
    emit(f"store_sqlite_writes_{CONCURRENCY}_writers_without_fsync", many_nosync, "writes/s",
         batched)  # fmt: skip


def etcd_figures(tmp: Path) -> None:
    cluster = EtcdCluster(tmp / "etcd", size=1).start()
    try:
        host, port = cluster.endpoints[0]
        session = requests.Session()  # configured like EtcdStore's: pooled, no env lookups
        session.trust_env = False
        session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))
        client = etcd3gw.client(host=host, port=port, api_path="/v3/", session=session)
        values = [json.dumps(_value(i)) for i in range(ETCD_WRITES)]

        def raw() -> float:
            prefix = f"/raw-{secrets.token_hex(4)}/"

            def work() -> None:
                for i, value in enumerate(values):
                    client.put(f"{prefix}s{i}", value)

            return rate(len(values), work)

        def off_loop(put: Callable[[str, str], object]) -> float:
            """``put(key, value)`` for every value, each on a worker thread, awaited in turn."""
            prefix = f"/raw-{secrets.token_hex(4)}/"

            async def work() -> float:
                loop = asyncio.get_running_loop()
                with ThreadPoolExecutor(1) as thread:
                    start = loop.time()
                    for i, value in enumerate(values):
                        await loop.run_in_executor(thread, put, f"{prefix}s{i}", value)
                    return len(values) / (loop.time() - start)

            return asyncio.run(work())

        pool = urllib3.HTTPConnectionPool(host, port, maxsize=1, retries=False)

        def same_txn(key: str, value: str) -> None:
            """The durable work of a store put: the object (with the old one's revisions) and
            the store's revision key, in one transaction, on a connection pool like the
            store's."""
            revision_key = key.rsplit("/", 1)[0] + "/meta/revision"
            success = [
                {"request_put": {"key": b64(key), "value": b64(value), "prev_kv": True}},
                {"request_put": {"key": b64(revision_key), "value": ""}},
            ]
            body = json.dumps({"success": success})
            response = pool.urlopen("POST", "/v3/kv/txn", body=body, headers=JSON_HEADERS)
            assert response.status == 200, response.data

        def raw_concurrent() -> float:
            prefix = f"/raw-{secrets.token_hex(4)}/"
            count = len(values) * 2

            def one(i: int) -> None:
                client.put(f"{prefix}s{i}", values[i % len(values)])

            def work() -> None:
                with ThreadPoolExecutor(CONCURRENCY) as pool:
                    list(pool.map(one, range(count)))

            return rate(count, work)

        def store(writers: int) -> float:
            prefix = f"/bench-{secrets.token_hex(4)}/"
            return store_puts(
                lambda: EtcdStore(cluster.endpoints, prefix=prefix, workers=writers),
                ETCD_WRITES * (2 if writers > 1 else 1),
                writers,
            )

        one, one_raw, one_off_loop, one_txn, many, many_raw = paired_medians(
            RUNS,
            lambda: store(1),
            raw,
            lambda: off_loop(client.put),
            lambda: off_loop(same_txn),
            lambda: store(CONCURRENCY),
            raw_concurrent,
        )
        emit("store_etcd_writes_vs_raw_etcd3gw_puts", one, "writes/s", one_raw)
        emit("store_etcd_writes_vs_raw_etcd3gw_puts_off_loop", one, "writes/s", one_off_loop)
        emit("store_etcd_writes_vs_same_txn_off_loop", one, "writes/s", one_txn)
        emit(f"store_etcd_writes_{CONCURRENCY}_writers", many, "writes/s", many_raw)
        client.session.close()
        pool.close()
    finally:
        cluster.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-store-") as tmp:
        sqlite_figures(Path(tmp))
        etcd_figures(Path(tmp))


if __name__ == "__main__":
    main()
