"""Following something that converges until it settles: what the CLI's ``--wait`` does.

:func:`follow` reads the thing again and again (backing off from 0.2 s to 2 s between
reads), writes a progress line to ``progress`` (stderr) each time what it reads changes,
and returns the value once ``settled`` says so, or raises an :class:`~atoll.errors.AtollError`
naming what it waited for after ``timeout`` seconds and ``hint`` (what to do next). A read
that raises :class:`~atoll.errors.NotFound` gives ``None`` (what a delete waits for).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO, TypeVar

from atoll.errors import AtollError, NotFound
from atoll.printable import escape

T = TypeVar("T")


def follow(
    read: Callable[[], T],
    settled: Callable[[T | None], bool],
    describe: Callable[[T | None], str],
    *,
    what: str,
    timeout: float,
    progress: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    hint: str = "it may yet settle",
) -> T | None:
    out = sys.stderr if progress is None else progress
    started = clock()
    delay, last = 0.2, ""
    while True:
        try:
            value: T | None = read()
        except NotFound:
            value = None
        line = describe(value)
        if line != last:
            print(f"{escape(what)}: {escape(line)} ({clock() - started:.0f}s)", file=out)
            out.flush()
            last = line
        if settled(value):
            return value
        if clock() - started > timeout:
            raise AtollError(f"{what} is still {line} after {timeout:g}s; {hint}")
        sleep(delay)
        delay = min(delay * 1.5, 2.0)
