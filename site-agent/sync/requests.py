"""The hub's requests in one sync session (protocol version 3; ``sync/PROTOCOL.md``,
"Requests"): today a server's console log.

:class:`Requests` takes each ``console`` frame the session reads and answers it with one
``console_reply``, one request at a time beside the session's other work (a slow hypervisor
holds no ack or ping back); at most :data:`WAITING` wait, and one more is answered ``busy``
at once. The log is read by :class:`atoll.site_agent.console.Consoles`, the code the local
API's console uses, within the session's ``max_frame``. Requests of a session that ended are
not answered: the hub's waiter is gone with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from atoll.errors import AtollError, NotFound, TemporaryError
from atoll.site_agent.console import Consoles
from atoll.sync import codec
from atoll.sync.frames import MAX_REQUEST, Console, ConsoleReply

log = logging.getLogger(__name__)

WAITING = 8  # console requests a session holds waiting, beyond the one being read
HEADROOM = 16  # bytes of a reply frame besides its fields at their largest (output's key)

Send = Callable[..., Awaitable[Any]]  # _Connection.send: a frame class and its fields


class Requests:
    def __init__(self, consoles: Consoles | None, send: Send, version: int, max_frame: int):
        self.consoles, self.send = consoles, send
        self.version, self.max_frame = version, max_frame
        self.queue: asyncio.Queue[Console] = asyncio.Queue(maxsize=WAITING)

    async def take(self, request: Console) -> None:
        """Queue ``request`` for :meth:`run`, or answer ``busy`` if too many wait."""
        try:
            self.queue.put_nowait(request)
        except asyncio.QueueFull:
            await self.send(ConsoleReply, request=request.request, error="busy",
                            message=f"the site has {WAITING} console requests waiting; "
                            "retry")  # fmt: skip

    async def run(self) -> None:
        """Answer the queued requests in turn; runs until the session ends."""
        while True:
            request = await self.queue.get()
            await self.send(ConsoleReply, **await self.answer(request))

    async def answer(self, request: Console) -> dict[str, Any]:
        """The fields of the reply to ``request``."""
        fields: dict[str, Any] = {"request": request.request}
        if self.consoles is None:
            return {**fields, "error": "failed", "message": "this agent reads no consoles"}
        try:
            got = await self.consoles.read(
                request.server_id, max_bytes=self.budget(), lines=request.lines
            )
        except NotFound as exc:
            return {**fields, "error": "not_found", "message": exc.message[:4096]}
        except TemporaryError as exc:
            return {**fields, "error": "unavailable", "message": exc.message[:4096]}
        except AtollError as exc:
            return {**fields, "error": "failed", "message": exc.message[:4096]}
        except Exception as exc:  # a bug: the hub is told, the session goes on
            log.exception("the console of server %s could not be read", request.server_id)
            message = f"the agent could not read the console: {type(exc).__name__}"
            return {**fields, "error": "failed", "message": message}
        return {**fields, "output": got.output, "truncated": got.truncated}

    def budget(self) -> int:
        """The most bytes of text a reply holds within the session's ``max_frame``."""
        empty = ConsoleReply(v=self.version, n=MAX_REQUEST, request=MAX_REQUEST, truncated=True)
        return max(self.max_frame - len(codec.encode(empty)) - HEADROOM, 0)
