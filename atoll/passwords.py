"""Password and secret hashing with argon2id (memory-hard), in a small bounded pool of its own.

The hub (user passwords) and the site agent (the local admin credential) both hash here.
argon2 is slow on purpose, so it never runs on the event loop, on a store's worker thread
or in the default executor the API's other work uses: :class:`Passwords` owns a dedicated
executor of ``workers`` threads and admits at most ``workers + queue`` hashes at once, and
at most ``workers`` from one caller address. Beyond that the caller gets
:class:`~atoll.errors.TooManyRequests` (HTTP 429 with ``Retry-After``) at once instead of
waiting in line, so a flood of wrong secrets costs the daemon a bounded amount of CPU,
never delays anything else, and one address cannot fill the pool for everybody.

Verifying against an unknown user still costs one hash (a decoy), so the time taken does
not tell whether a user exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from atoll.errors import TooManyRequests

T = TypeVar("T")
BUSY_RETRY_AFTER = 1  # seconds a caller refused by a full pool is told to wait
HASH_NICENESS = 10  # the pool's threads' nice value (Linux: per thread), under the loop's 0


def new_secret(prefix: str, nbytes: int = 24) -> str:
    """A random secret to show a person once: ``prefix`` then ``nbytes`` random bytes in
    url-safe base64. The prefix keeps it from starting with '-', which a command line takes
    for a flag (``openstack --os-application-credential-secret -Xy...`` fails), and makes a
    leaked one easy to spot, by secret scanners too."""
    if not prefix[:1].isalpha():
        raise ValueError(f"a secret's prefix must start with a letter, not {prefix!r}")
    return prefix + secrets.token_urlsafe(nbytes)


def _yield_cpu() -> None:
    """Run this pool's thread (and the threads argon2 starts from it for its lanes) at a
    lower CPU priority: hashing takes the CPU the event loop leaves, never the reverse."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASH_NICENESS)


class Passwords:
    """argon2id hashing and verifying, at most ``workers + queue`` at a time.

    The defaults of the cost parameters are argon2-cffi's (RFC 9106 low-memory profile).
    """

    def __init__(
        self,
        time_cost: int = 3,
        memory_kib: int = 65536,
        parallelism: int = 4,
        workers: int = 2,
        queue: int = 8,
    ) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._decoy = self._hasher.hash("decoy password, never matches")
        self._executor = ThreadPoolExecutor(
            max(1, workers), thread_name_prefix="argon2", initializer=_yield_cpu
        )
        self._slots = max(1, workers) + max(0, queue)
        self._per_source = max(1, workers)
        # hashes running or waiting, in all and per source; touched on the event loop only
        self._admitted = 0
        self._by_source: dict[str, int] = {}

    def hash_now(self, password: str) -> str:
        """Blocking; for CLIs (``atoll hub init``). Servers use :meth:`hash`."""
        return self._hasher.hash(password)

    async def hash(self, password: str, source: str = "") -> str:
        return await self._run(source, self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str, source: str = "") -> bool:
        """True when ``password`` matches; an absent hash still takes the time of a check.

        Raises :class:`~atoll.errors.TooManyRequests` when the pool is full, or holds as
        many hashes for ``source`` (the caller's address) as it has threads.
        """
        target = stored_hash or self._decoy
        try:
            ok = await self._run(source, self._hasher.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok) and stored_hash is not None

    def check_room(self, source: str = "") -> None:
        """Raise :class:`~atoll.errors.TooManyRequests` now if a hash for ``source`` would be
        refused: callers check before doing other work (reading the stored hash) for it."""
        if self._admitted >= self._slots or self._by_source.get(source, 0) >= self._per_source:
            raise TooManyRequests(
                f"the server is busy checking passwords; try again in {BUSY_RETRY_AFTER} second",
                BUSY_RETRY_AFTER,
            )

    async def _run(self, source: str, fn: Callable[..., T], *args: str) -> T:
        self.check_room(source)
        loop = asyncio.get_running_loop()
        self._admitted += 1
        self._by_source[source] = self._by_source.get(source, 0) + 1
        # the slot frees when the hash ends, not when a caller stops waiting for it
        job = self._executor.submit(fn, *args)
        job.add_done_callback(lambda _: self._release_from_thread(loop, source))
        return await asyncio.wrap_future(job)

    def _release_from_thread(self, loop: asyncio.AbstractEventLoop, source: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._release, source)

    def _release(self, source: str) -> None:
        self._admitted -= 1
        left = self._by_source.pop(source, 1) - 1
        if left > 0:
            self._by_source[source] = left

    def close(self) -> None:
        """Let the pool's threads end (hashes already admitted still finish)."""
        self._executor.shutdown(wait=False)
