"""Password hashing with argon2id (memory-hard), off the event loop.

Hashes are stored under ``_password_hash`` in the user object (fields starting with ``_``
never leave the hub in an API reply). Verifying an unknown user still costs one hash, so the
time taken does not tell whether a user exists.
"""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Passwords:
    def __init__(self, time_cost: int = 3, memory_kib: int = 65536, parallelism: int = 4) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._decoy = self._hasher.hash("decoy password, never matches")

    def hash_now(self, password: str) -> str:
        """Blocking; for the CLI (``atoll hub init``). Servers use :meth:`hash`."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(None, self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; an absent hash still takes the time of a check."""
        target = stored_hash or self._decoy
        loop = asyncio.get_running_loop()
        try:
            ok = await loop.run_in_executor(None, self._hasher.verify, target, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok) and stored_hash is not None
