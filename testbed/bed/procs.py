"""The testbed's daemons: started detached (they outlive ``atoll testbed up``), logged under
the testbed's directory, found again by the directory in their command line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from atoll.errors import PermanentError


def atoll_argv(*args: str, netns: str | None = None) -> list[str]:
    """``atoll ARGS`` with this interpreter, inside ``netns`` if given."""
    argv = [sys.executable, "-m", "atoll", *args]
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without ATOLL_* (settings come from the testbed's files)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATOLL_")}
    env.update(extra or {})
    return env


def start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start a daemon in a session of its own (it survives the testbed command); its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env or clean_env(), start_new_session=True,
        )  # fmt: skip
    return proc.pid


def alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie of ours is not alive
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if status == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def wait_for(what: str, ready: Callable[[], object], timeout: float, log: Path | None = None,
             pid: int | None = None) -> object:  # fmt: skip
    """Poll ``ready`` until it returns something true; a dead ``pid`` or the timeout raise
    with the end of ``log``."""
    deadline = time.monotonic() + timeout
    while not (value := ready()):
        dead = pid is not None and not alive(pid)
        if dead or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            why = "exited" if dead else f"not ready after {timeout:.0f}s"
            raise PermanentError(f"{what} {why}; log {log}:\n{tail}")
        time.sleep(0.2)
    return value


def stop(pid: int | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if not alive(pid):
        return
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while alive(pid):
        time.sleep(0.05)


def naming(text: str) -> list[int]:
    """Pids of processes whose command line contains ``text``: not this one, nor those it
    runs under (``timeout 60 atoll testbed down --dir D``, a script given ``D``: the
    command that stops a testbed must not stop what ran it)."""
    found = []
    mine = lineage()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        with contextlib.suppress(OSError):
            if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace"
            ):
                found.append(int(entry.name))
    return found


def lineage(pid: int | None = None) -> set[int]:
    """``pid`` (this process by default) and its ancestors, up to init."""
    chain, pid = set(), pid or os.getpid()
    while pid > 1 and pid not in chain:
        chain.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            break
        ppid = [line.split()[1] for line in status.splitlines() if line.startswith("PPid:")]
        pid = int(ppid[0]) if ppid else 0
    return chain


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run a command to completion; its stdout, or PermanentError with its output."""
    proc = subprocess.run(argv, capture_output=True, text=True, env=env or clean_env(),
                          timeout=timeout)  # fmt: skip
    if proc.returncode != 0:
        raise PermanentError(f"{' '.join(argv)} exited {proc.returncode}: "
                           f"{(proc.stdout + proc.stderr).strip()[-2000:]}")  # fmt: skip
    return proc.stdout
