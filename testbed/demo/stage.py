"""What the demo's acts share: a working directory, a transcript shell, cleanup, a hub."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Say = Callable[[str], None]


class DemoFailure(Exception):
    """Something a user would have noticed went wrong."""


@dataclass
class Stage:
    work: Path
    stack: ExitStack
    say: Say
    env: dict[str, str] = field(default_factory=dict)
    hub_url: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # what one act leaves for the next

    def __post_init__(self) -> None:
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ATOLL_")},
            "XDG_CONFIG_HOME": str(self.work / "config"),
        }

    def atoll(
        self, *argv: str, ok: bool = True, show: bool = True, env: dict[str, str] | None = None,
        quiet: bool = False,
    ) -> str:  # fmt: skip
        """Run ``atoll ARGV`` like a user; print the command and (briefly) its output
        (``quiet``: neither, for polling)."""
        if not quiet:
            self.say(f"$ atoll {_masked(argv)}")
        proc = subprocess.run(
            [sys.executable, "-m", "atoll", *argv],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=300,
        )
        output = (proc.stdout + proc.stderr).rstrip()
        if show and not quiet and output:
            lines = output.splitlines()
            for line in lines[:12]:
                self.say(f"    {line}")
            if len(lines) > 12:
                self.say(f"    ... ({len(lines) - 12} more lines)")
        if ok and proc.returncode != 0:
            raise DemoFailure(f"atoll {_masked(argv)} exited {proc.returncode}: {output}")
        if not ok and proc.returncode == 0:
            raise DemoFailure(f"atoll {_masked(argv)} should have been refused")
        return proc.stdout

    def atoll_json(self, *argv: str, env: dict[str, str] | None = None, quiet: bool = False) -> Any:
        return json.loads(self.atoll(*argv, "-f", "json", show=False, env=env, quiet=quiet))

    def daemon(
        self, name: str, argv: list[str], ready: str, timeout: float = 60.0,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        """Start ``atoll ARGV`` in the background until its log shows ``ready``; stopped at
        the end of the demo."""
        log = self.work / f"{name}.log"
        self.say(f"$ atoll {_masked(argv)} &    # log: {log}")
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "atoll", *argv],
                stdout=out, stderr=subprocess.STDOUT, env={**self.env, **(env or {})},
            )  # fmt: skip
        self.stack.callback(_stop, proc)
        deadline = time.monotonic() + timeout
        while ready not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise DemoFailure(f"{name} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        return proc

    def check(self, condition: bool, what: str) -> None:
        if not condition:
            raise DemoFailure(what)
        self.say(f"  ✓ {what}")


def _masked(argv: tuple[str, ...] | list[str]) -> str:
    """The command line as typed, with the value after ``--password`` hidden."""
    hidden = "ATOLLHIDDEN"
    shown = [
        hidden if i and argv[i - 1] in ("--password", "--secret") else arg
        for i, arg in enumerate(argv)
    ]
    return shlex.join(shown).replace(hidden, "***")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
