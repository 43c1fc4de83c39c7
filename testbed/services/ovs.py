"""A private Open vSwitch: its own ovsdb-server and ovs-vswitchd (netdev datapath).

There is no OVS kernel module on these machines, so bridges must use
``datapath_type=netdev`` (the userspace datapath). Everything lives under ``base_dir``
(rundir, dbdir, logdir), the daemons are our children, and :meth:`PrivateOVS.stop` deletes
every bridge first so the tap devices the netdev datapath made in the host go away too.

A netdev datapath owns one host-wide tap named ``ovs-netdev``, so only one ``ovs-vswitchd``
with that datapath can run per network namespace. :meth:`PrivateOVS.start` therefore takes a
host-wide lock (:mod:`atoll.host_lock` on :data:`HOST_LOCK`) and :meth:`PrivateOVS.stop`
releases it: a second instance waits for the first instead of failing to create its bridges.
(Several sites on one host share one instance and use one integration bridge each.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atoll import host_lock
from atoll.testbed.services.process import reap, spawn

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
HOST_LOCK = Path("/run/atoll-ovs-netdev.lock")
VSCTL_TIMEOUT = 30  # seconds


def _acquire_host_lock(timeout: float) -> int:
    """Wait up to ``timeout`` s for the host-wide netdev lock; returns the locked fd."""
    fd = host_lock.acquire(HOST_LOCK, timeout, 0o644)
    if fd is None:
        raise TimeoutError(f"another private ovs-vswitchd holds {HOST_LOCK} after {timeout}s")
    return fd


@dataclass
class PrivateOVS:
    base_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    lock_fd: int | None = field(default=None, repr=False)
    # detach: the daemons outlive this object and hold the host lock themselves (the
    # testbed's OVS, which lives until `atoll testbed down`: see :func:`stop_detached`)
    detach: bool = False

    @property
    def rundir(self) -> Path:
        return self.base_dir / "run"

    @property
    def db_sock(self) -> Path:
        return self.rundir / "db.sock"

    @property
    def remote(self) -> str:
        """The OVSDB connection string ovsdbapp and ``ovs-vsctl --db`` take."""
        return f"unix:{self.db_sock}"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            OVS_RUNDIR=str(self.rundir),
            OVS_LOGDIR=str(self.base_dir / "log"),
            OVS_DBDIR=str(self.base_dir / "db"),
            OVS_SYSCONFDIR=str(self.base_dir / "etc"),
        )
        return env

    def vsctl(self, *args: str) -> str:
        """Run ``ovs-vsctl`` against this instance; returns stdout. Its timeout is generous:
        on a 2-core machine booting guests under TCG, a round trip through ovs-vswitchd
        has taken over 10 s."""
        out = subprocess.run(
            ["ovs-vsctl", f"--db={self.remote}", f"--timeout={VSCTL_TIMEOUT}", *args],
            check=True, capture_output=True, text=True, env=self.env,
        )  # fmt: skip
        return out.stdout

    def appctl(self, target: str, *args: str) -> str:
        ctl = self.rundir / f"{target}.ctl"
        out = subprocess.run(
            ["ovs-appctl", "-t", str(ctl), *args],
            check=True, capture_output=True, text=True, env=self.env,
        )  # fmt: skip
        return out.stdout

    def start(self, timeout: float = 20.0, lock_timeout: float = 600.0) -> PrivateOVS:
        self.lock_fd = _acquire_host_lock(lock_timeout)
        for sub in ("run", "log", "db", "etc"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        db = self.base_dir / "db" / "conf.db"
        if not db.exists():
            subprocess.run(["ovsdb-tool", "create", str(db), str(SCHEMA)], check=True)
        log = self.base_dir / "log"
        try:
            self.procs.append(spawn([
                "ovsdb-server", str(db),
                f"--remote=punix:{self.db_sock}",
                f"--unixctl={self.rundir / 'ovsdb-server.ctl'}",
                f"--pidfile={self.rundir / 'ovsdb-server.pid'}",
                f"--log-file={log / 'ovsdb-server.log'}",
            ], log / "ovsdb-server.out", self.env, **self._spawn_options()))  # fmt: skip
            self._wait(lambda: self.db_sock.exists(), timeout, "ovsdb-server socket")
            self.vsctl("--no-wait", "init")
            self.procs.append(spawn([
                "ovs-vswitchd", self.remote,
                f"--unixctl={self.rundir / 'ovs-vswitchd.ctl'}",
                f"--pidfile={self.rundir / 'ovs-vswitchd.pid'}",
                f"--log-file={log / 'ovs-vswitchd.log'}",
            ], log / "ovs-vswitchd.out", self.env, **self._spawn_options()))  # fmt: skip
            self._wait(lambda: (self.rundir / "ovs-vswitchd.ctl").exists(), timeout, "ovs-vswitchd")
            # A round trip through vswitchd proves it has connected to the database.
            self.vsctl("add-br", "atoll-probe0", "--", "set", "bridge", "atoll-probe0",
                       "datapath_type=netdev")  # fmt: skip
            self.vsctl("del-br", "atoll-probe0")
        except BaseException:
            self.stop()
            raise
        if self.detach and self.lock_fd is not None:
            os.close(self.lock_fd)  # the daemons hold the lock now, until they exit
            self.lock_fd = None
        return self

    def _spawn_options(self) -> dict[str, Any]:
        if not self.detach or self.lock_fd is None:
            return {}
        return {"detach": True, "pass_fds": (self.lock_fd,)}

    def _wait(self, ready: object, timeout: float, what: str) -> None:
        assert callable(ready)
        deadline = time.monotonic() + timeout
        while not ready():
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(
                        f"{p.args!r} exited with {p.returncode}; see {self.base_dir}/log"
                    )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout}s; see {self.base_dir}/log")
            time.sleep(0.05)

    def bridges(self) -> list[str]:
        return self.vsctl("list-br").split()

    def stop(self) -> None:
        """Delete the bridges, stop the daemons, remove the directory. A database that does
        not answer does not keep the daemons running (nor hide why a start failed)."""
        if self.procs and all(p.poll() is None for p in self.procs):
            with contextlib.suppress(subprocess.SubprocessError):
                for br in self.bridges():
                    self.vsctl("--if-exists", "del-br", br)
        for p in reversed(self.procs):
            reap(p)
        self.procs.clear()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing the fd releases the flock
            self.lock_fd = None


def stop_detached(base_dir: Path) -> None:
    """Stop a detached instance under ``base_dir`` from its files alone: delete its bridges,
    stop its daemons (their pid files), remove the directory. Safe when it is already gone."""
    ovs = PrivateOVS(base_dir)
    if ovs.db_sock.exists():
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            for br in ovs.bridges():
                ovs.vsctl("--if-exists", "del-br", br)
    for name in ("ovs-vswitchd", "ovsdb-server"):
        with contextlib.suppress(OSError, ValueError):
            pid = int((ovs.rundir / f"{name}.pid").read_text().strip())
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(base_dir, ignore_errors=True)
