"""A child process that is always reaped: terminate, then kill after a grace period."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path


def spawn(
    argv: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    *,
    detach: bool = False,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr going to ``log_path``; ``detach``: in a session
    of its own (it outlives its parent's terminal and process group); ``pass_fds``: kept
    open in the child (a lock the child should hold)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=detach, pass_fds=pass_fds,
        )  # fmt: skip


def reap(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Stop a child: SIGTERM, wait ``grace`` seconds, then SIGKILL. Safe to call twice."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
