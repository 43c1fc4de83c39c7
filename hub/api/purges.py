"""Purges: what a deleted project or site leaves in the store is removed for certain.

Deleting a project or a site commits, together with its removal, a *purge record*: the
intent to remove what it leaves behind (its images and packages; a site's statuses, events,
operations and conflicts), keyed by the deleted thing's id, as the site agent's journal
writes intent before the act. :func:`carry_out` does the parts of a purge (each part is
tried even if another fails) and removes the record once all are done. A part that fails
(the store busy), or a hub stopped meanwhile, leaves the record, and :func:`install`'s loop
carries it out again every :data:`EVERY` seconds. Every part is idempotent: several hub
processes may carry out one purge at once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from atoll.background import Loop, LoopSettings
from atoll.errors import NotFound
from atoll.hub.api.context import HUB
from atoll.hub.store.query import list_all

log = logging.getLogger(__name__)

EVERY = 60.0  # seconds between passes over the purges an error or a restart left undone

Part = Callable[[web.Application, str], Awaitable[None]]  # removes one kind of leftover


async def carry_out(app: web.Application, kind: str, key: str, parts: Sequence[Part]) -> None:
    """Every part for the purge record ``kind``/``key``, then the record; the first error
    is raised after all parts ran (the record stays, so the loop tries again)."""
    errors: list[Exception] = []
    for part in parts:
        try:
            await part(app, key)
        except Exception as exc:  # the others still run; raised below
            errors.append(exc)
    if errors:
        raise errors[0]
    with contextlib.suppress(NotFound):  # another hub process finished it first
        await app[HUB].store.delete(kind, key)


async def after_delete(app: web.Application, kind: str, key: str, parts: Sequence[Part]) -> None:
    """:func:`carry_out` right after the delete that wrote the record: a failure is logged
    (the delete itself is done, and its answer says so), and the loop finishes the purge."""
    try:
        await carry_out(app, kind, key, parts)
    except Exception:  # the deleted thing is gone: the loop finishes the purge
        log.warning("%s %s: removing what it left failed; retried every %g s", kind, key, EVERY,
                    exc_info=True)  # fmt: skip


async def pass_over(app: web.Application, purges: Mapping[str, Sequence[Part]]) -> None:
    """One pass over every purge record left undone; the first error raised at the end."""
    errors: list[Exception] = []
    for kind, parts in purges.items():
        for record in await list_all(app[HUB].store, kind, {}):
            try:
                await carry_out(app, kind, record.key, parts)
            except Exception as exc:  # the other purges still run
                errors.append(exc)
    if errors:
        raise errors[0]


def install(app: web.Application, purges: Mapping[str, Sequence[Part]]) -> None:
    """Run the loop that carries out the purges left undone (``purges``: each purge record
    kind with its parts)."""

    async def purger(app: web.Application) -> AsyncIterator[None]:
        loop = Loop("purges of deleted projects and sites", functools.partial(
            pass_over, app, purges), LoopSettings(interval=EVERY), logger=log)  # fmt: skip
        loop.start()
        yield
        await loop.stop()

    app.cleanup_ctx.append(purger)
