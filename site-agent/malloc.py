"""glibc malloc settings for the agent's long-lived, threaded process.

The agent is one asyncio loop plus a few worker threads (thread pools, libvirt's event loop,
ovsdbapp's connection). glibc gives each thread that allocates its own arena (up to 8 per
core), and keeps freed pages inside the process until the top of a heap shrinks. Measured on
the bench's agent (``bench/bench_site_agent.py``, 10 servers, idle; medians of 3 runs
alternated with ``main``): the per-thread arenas held ~1.9 MB of RSS (``/proc/PID/smaps``);
these two calls together with ``atoll site-agent`` loading only its own CLI took the idle RSS
from 90.3 to 89.0 MB (either alone: at most 0.2 MB). Nothing else in the agent changes malloc.

Where libc has no ``mallopt``/``malloc_trim`` both are no-ops.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt parameter number, from glibc's <malloc.h>
ARENA_MAX = 2  # the event loop's thread and one shared by the workers


def _libc() -> ctypes.CDLL | None:
    # the interpreter's own symbols, libc's among them (ctypes.util.find_library would
    # run ldconfig in a subprocess at every start)
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return None
    return libc


_LIBC = _libc()


def limit_arenas() -> None:
    """At most :data:`ARENA_MAX` malloc arenas; call before the first worker thread starts
    (an arena a thread already has stays)."""
    if _LIBC is not None and _LIBC.mallopt(M_ARENA_MAX, ARENA_MAX) != 1:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", ARENA_MAX)


def trim() -> None:
    """Give the pages malloc holds free back to the kernel (after start-up and after a
    burst of work: it walks the free lists, ~0.2 ms on an idle agent, ~1.3 ms the first
    time)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
