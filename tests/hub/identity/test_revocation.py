"""Revocations made by one hub process reach another sharing the store, through its watch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from atoll.hub.identity.revocation import Revocations
from atoll.hub.store.base import ListQuery
from atoll.hub.store.memory import MemoryStore
from atoll.tokens import Claims


def token(user: str, issued_at: float, token_id: str = "t1") -> Claims:  # noqa: S107
    return Claims(token_id, user, "a", False, ("member",), issued_at, issued_at + 3600)


async def eventually(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the revocation never arrived")


async def test_a_revocation_reaches_the_other_process_and_survives_restart() -> None:
    store = MemoryStore()
    here, there = Revocations(store, lambda: 100.0), Revocations(store, lambda: 100.0)
    await here.start()
    await there.start()
    try:
        await here.revoke("user", "alice")
        await here.revoke("token", "t9")
        assert here.is_revoked(token("alice", 99.0))
        await eventually(lambda: there.is_revoked(token("alice", 99.0)))
        await eventually(lambda: there.is_revoked(token("bob", 99.0, "t9")))
        assert not there.is_revoked(token("alice", 101.0))  # issued after: fine
        assert not there.is_revoked(token("bob", 99.0))
    finally:
        await here.stop()
        await there.stop()
    later = Revocations(store, lambda: 200.0)
    await later.start()
    try:
        assert later.is_revoked(token("alice", 99.0))  # loaded from the store at start
    finally:
        await later.stop()


async def test_revocations_are_pruned_once_no_token_can_need_them() -> None:
    store = MemoryStore()
    now = [1000.0]
    revocations = Revocations(store, lambda: now[0], max_token_ttl=3600)
    await revocations.start()
    try:
        await revocations.revoke("user", "alice")
        assert await revocations.prune() == 0
        now[0] += 3599
        assert await revocations.prune() == 0
        assert revocations.is_revoked(token("alice", 999.0))
        now[0] += 1  # every token alice held at 1000 has expired by 4600
        assert await revocations.prune() == 1
        assert (await store.list(ListQuery("revocation"))).items == []
    finally:
        await revocations.stop()


async def test_one_user_keeps_at_most_per_user_tokens_revoked_by_id_even_after_a_restart() -> None:
    store, now = MemoryStore(), [100.0]
    here = Revocations(store, lambda: now[0], per_user=2)
    await here.start()
    try:
        for n in range(2):
            await here.revoke_token(f"m{n}", "mallory")
        await here.revoke_token("b0", "bob")
        await here.stop()
        here = Revocations(store, lambda: now[0], per_user=2)  # counts are read back
        await here.start()
        now[0] = 101.0
        await here.revoke_token("m2", "mallory")  # one more: the user instead
        kept = {r.key for r in (await store.list(ListQuery("revocation"))).items}
        assert kept == {"user:mallory", "token:b0"}
        assert here.is_revoked(token("mallory", 100.5, "m9"))  # issued before: revoked too
        assert not here.is_revoked(token("mallory", 102.0, "m9"))
        assert here.is_revoked(token("bob", 100.0, "b0"))
    finally:
        await here.stop()
