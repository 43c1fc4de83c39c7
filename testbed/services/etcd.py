"""Private etcd: one member or a cluster of members on free loopback ports.

Every member keeps its data in its own directory and listens only on 127.0.0.1. A member can
be stopped and started again on the same ports and data (to test a store that keeps serving
while one member of three is down).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from atoll.testbed.services.ports import free_port
from atoll.testbed.services.process import reap, spawn

ETCD_BINARY = "etcd"


class PortTaken(RuntimeError):
    """A member could not bind a port it was given: another process took it first."""


@dataclass
class EtcdMember:
    name: str
    data_dir: Path
    client_port: int
    peer_port: int
    initial_cluster: str = ""
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def argv(self, state: str) -> list[str]:
        return [
            ETCD_BINARY,
            "--name", self.name,
            "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", self.client_url,
            "--advertise-client-urls", self.client_url,
            "--listen-peer-urls", self.peer_url,
            "--initial-advertise-peer-urls", self.peer_url,
            "--initial-cluster", self.initial_cluster or f"{self.name}={self.peer_url}",
            "--initial-cluster-state", state,
            "--initial-cluster-token", "atoll-testbed",
            "--logger", "zap",
            "--log-outputs", "stderr",
        ]  # fmt: skip

    def start(self, state: str = "new") -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(self.argv(state), self.data_dir / "etcd.log")

    def stop(self) -> None:
        if self.proc is not None:
            reap(self.proc)
            self.proc = None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.client_url + "/health", timeout=1) as resp:  # noqa: S310
                return bool(json.loads(resp.read()).get("health") == "true")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.data_dir / "etcd.log").read_text(errors="replace")[-2000:]
                error = PortTaken if "address already in use" in log else RuntimeError
                raise error(f"etcd {self.name} exited ({self.proc.returncode}):\n{log}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd {self.name} not healthy after {timeout}s")
            time.sleep(0.1)


@dataclass
class EtcdCluster:
    """``size`` etcd members forming one cluster; ``endpoints`` is what a client is given."""

    base_dir: Path
    size: int = 1
    members: list[EtcdMember] = field(default_factory=list)

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", m.client_port) for m in self.members]

    @property
    def url(self) -> str:
        """The ``etcd://host:port,...`` form the hub's ``--store`` flag takes."""
        return "etcd://" + ",".join(f"{h}:{p}" for h, p in self.endpoints)

    def start(self, timeout: float = 30.0, attempts: int = 3) -> EtcdCluster:
        """Start every member on free ports; wait until each is healthy. A port
        :func:`free_port` found free can be bound by another process before the member binds
        it (tests run side by side): a member that exits for that starts the cluster again,
        on new ports, up to ``attempts`` times."""
        for attempt in range(1, attempts + 1):
            try:
                return self._start(timeout)
            except PortTaken:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> EtcdCluster:
        self.members = [
            EtcdMember(f"m{i}", self.base_dir / f"m{i}", free_port(), free_port())
            for i in range(self.size)
        ]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        try:
            for m in self.members:
                m.initial_cluster = initial
                m.start()
            for m in self.members:
                m.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for m in self.members:
            m.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)
