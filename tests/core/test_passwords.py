"""argon2 in a bounded pool: a full pool answers TooManyRequests at once, per source too."""

from __future__ import annotations

import asyncio
import threading

import pytest

from atoll.errors import TooManyRequests
from atoll.passwords import Passwords, new_secret


async def test_hash_and_verify_and_unknown_users_never_match() -> None:
    passwords = Passwords(1, 8, 1)
    try:
        stored = await passwords.hash("right")
        assert await passwords.verify(stored, "right")
        assert not await passwords.verify(stored, "wrong")
        assert not await passwords.verify(None, "right")
        assert not await passwords.verify("not a hash", "right")
    finally:
        passwords.close()


class SlowHasher:
    """Stands in for argon2 so a hash lasts until the test lets it end."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def verify(self, stored: str, password: str) -> bool:
        self.started.release()
        assert self.release.wait(30)
        return True


async def test_a_full_pool_refuses_at_once_and_one_source_cannot_fill_it() -> None:
    passwords = Passwords(1, 8, 1, workers=1, queue=2)  # three admitted at most, one per source
    stored = passwords.hash_now("right")
    slow = SlowHasher()
    passwords._hasher = slow  # type: ignore[assignment]
    try:
        first = asyncio.create_task(passwords.verify(stored, "x", "10.0.0.9"))
        assert await asyncio.to_thread(slow.started.acquire, True, 30)
        with pytest.raises(TooManyRequests) as refused:  # the attacker's one slot is taken
            await passwords.verify(stored, "x", "10.0.0.9")
        assert refused.value.retry_after == 1
        with pytest.raises(TooManyRequests):  # what callers ask before reading a stored hash
            passwords.check_room("10.0.0.9")
        passwords.check_room("10.0.0.1")
        others = [asyncio.create_task(passwords.verify(stored, "x", f"10.0.0.{n}")) for n in (1, 2)]
        await asyncio.sleep(0)  # both admitted, waiting for the one thread
        with pytest.raises(TooManyRequests):  # all three slots taken
            await passwords.verify(stored, "x", "10.0.0.3")
        slow.release.set()
        assert await first and all(await asyncio.gather(*others))
        assert await passwords.verify(stored, "x", "10.0.0.9")  # every slot freed again
    finally:
        slow.release.set()
        passwords.close()


def test_a_new_secret_never_reads_as_a_flag() -> None:
    # 1 in 64 url-safe secrets began with '-': `openstack --os-application-credential-secret
    # -Xy...` then failed ("expected one argument"), once in CI
    made = {new_secret("atac_", 32) for _ in range(500)}
    assert len(made) == 500
    assert all(s.startswith("atac_") and len(s) == 5 + 43 for s in made)
    with pytest.raises(ValueError, match="letter"):
        new_secret("-x")
