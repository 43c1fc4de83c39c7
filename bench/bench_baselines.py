"""Raw baselines later benchmarks compare against: SQLite, msgpack, a TCG boot, file copy."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import msgpack

from atoll.testbed.services import libvirtd
from bench.report import emit, median_of, rate

RUNS = 5


def sqlite_inserts(tmp: Path) -> None:
    """Batched inserts in one transaction, against one commit per row (the plain way)."""
    rows = [(i, f"name-{i}", secrets.token_hex(16)) for i in range(20_000)]

    def batched() -> float:
        db = tmp / f"b-{secrets.token_hex(4)}.db"
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, body TEXT)")

        def work() -> None:
            with conn:
                conn.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)

        r = rate(len(rows), work)
        conn.close()
        return r

    def per_row() -> float:
        db = tmp / f"r-{secrets.token_hex(4)}.db"
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, body TEXT)")

        def work() -> None:
            for row in rows[:1000]:
                conn.execute("INSERT INTO t VALUES (?, ?, ?)", row)

        r = rate(1000, work)
        conn.close()
        return r

    emit("sqlite_batched_inserts", median_of(RUNS, batched), "rows/s", median_of(RUNS, per_row))


def codec() -> None:
    """msgpack encode+decode of a sync-frame-shaped message, against stdlib json."""
    frame = {
        "v": 1,
        "type": "desired",
        "site": "edge-0001",
        "seq": 123456,
        "objects": [
            {"kind": "server", "key": f"srv-{i}", "rev": 1000 + i, "spec": {"vcpus": 2,
             "ram_mb": 2048, "image": "sha256:" + "ab" * 32, "nics": [{"net": "n1"}]}}
            for i in range(10)
        ],
    }  # fmt: skip
    n = 20_000

    def mp() -> float:
        return rate(n, lambda: [msgpack.unpackb(msgpack.packb(frame)) for _ in range(n)])

    def js() -> float:
        return rate(n, lambda: [json.loads(json.dumps(frame)) for _ in range(n)])

    emit("msgpack_roundtrip", median_of(RUNS, mp), "frames/s", median_of(RUNS, js))


def tcg_boot() -> None:
    """libvirt create -> running of a TCG domain, against launching the same QEMU by hand."""
    conn = libvirtd.connect()
    prefix = f"atoll-bench-{secrets.token_hex(3)}-"

    def via_libvirt() -> float:
        start = time.perf_counter()
        dom = conn.createXML(libvirtd.tcg_domain_xml(prefix + secrets.token_hex(3)), 0)
        while not dom.isActive():
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        dom.destroy()
        return elapsed

    def bare_qemu() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            pidfile = Path(tmp) / "pid"
            start = time.perf_counter()
            subprocess.run(
                ["qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "64", "-display", "none",
                 "-daemonize", "-pidfile", str(pidfile), "-nodefaults"],
                check=True,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
            os.kill(int(pidfile.read_text()), 9)
            return elapsed

    try:
        emit("tcg_domain_create_to_running", median_of(RUNS, via_libvirt), "s",
             median_of(RUNS, bare_qemu))  # fmt: skip
    finally:
        libvirtd.remove_domains(conn, prefix)
        conn.close()


def loopback_copy(tmp: Path) -> None:
    """A 256 MiB file sent over loopback TCP to a file, against a local file copy."""
    size = 256 * 1024 * 1024
    src = tmp / "src.bin"
    with src.open("wb") as fh:
        for _ in range(size // (1 << 20)):
            fh.write(os.urandom(1 << 20))

    def over_tcp() -> float:
        dst = tmp / "dst-tcp.bin"
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]

        def receive() -> None:
            conn, _ = server.accept()
            with conn, dst.open("wb") as out:
                while chunk := conn.recv(1 << 20):
                    out.write(chunk)

        t = threading.Thread(target=receive)
        t.start()
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as sock, src.open("rb") as fh:
            sock.sendfile(fh)
        t.join()
        elapsed = time.perf_counter() - start
        server.close()
        dst.unlink()
        return size / elapsed / 1e6

    def local_copy() -> float:
        dst = tmp / "dst-local.bin"
        start = time.perf_counter()
        shutil.copyfile(src, dst)
        elapsed = time.perf_counter() - start
        dst.unlink()
        return size / elapsed / 1e6

    emit("loopback_file_copy", median_of(RUNS, over_tcp), "MB/s", median_of(RUNS, local_copy))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="atoll-bench-") as tmp:
        sqlite_inserts(Path(tmp))
        codec()
        tcg_boot()
        loopback_copy(Path(tmp))


if __name__ == "__main__":
    main()
