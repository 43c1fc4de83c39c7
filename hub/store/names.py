"""Which kinds and keys a store accepts (the same everywhere, so a backend swap is safe).

A kind is a non-empty word without ``/`` (etcd keys are ``.../objects/<kind>/<key>``); a key
is any non-empty string. Neither may contain a NUL character. ``put`` refuses other names
with InvalidInput; ``get`` and ``delete`` answer NotFound (no object can have them) and
``list`` an empty page.
"""

from __future__ import annotations

from collections.abc import Sequence

from atoll.errors import InvalidInput, Problem
from atoll.hub.store.base import Delete, Put


def valid_name(kind: str, key: str) -> bool:
    return bool(kind and key) and "/" not in kind and "\0" not in kind + key


def check_name(kind: str, key: str) -> None:
    problems = []
    if not kind or "/" in kind or "\0" in kind:
        problems.append(Problem("kind", f"{kind!r} must be non-empty, without '/' or NUL"))
    if not key or "\0" in key:
        problems.append(Problem("key", f"{key!r} must be non-empty, without NUL"))
    if problems:
        raise InvalidInput(f"cannot store {kind!r} {key!r}", problems)


def check_writes(writes: Sequence[Put | Delete]) -> None:
    """A commit names each object once, and puts only storable names."""
    seen: set[tuple[str, str]] = set()
    for write in writes:
        if (write.kind, write.key) in seen:
            raise InvalidInput(
                f"one commit writes {write.kind} {write.key!r} twice",
                [Problem("writes", "name each object once")],
            )
        seen.add((write.kind, write.key))
        if isinstance(write, Put):
            check_name(write.kind, write.key)
