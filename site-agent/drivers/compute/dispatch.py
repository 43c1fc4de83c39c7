"""Domain lifecycle events, handed from a compute driver to its subscribers.

Every compute driver delivers events the same way (this module, so the fake and the real
driver cannot drift apart): the driver :meth:`~Dispatcher.put`\\ s an event on the asyncio
loop's thread (the libvirt driver hands it over from libvirt's event thread with
``call_soon_threadsafe``), and one background :class:`~atoll.background.Loop` hands the
queued events, in order, to every handler. An optional ``accept`` filter runs first (the
libvirt driver checks the domain is ours). A failing handler does not stop the others nor
later events; it is logged once when handlers start failing and once when they recover.
"""

from __future__ import annotations

import builtins
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from atoll.background import Loop
from atoll.site_agent.drivers.compute.base import DomainEvent, EventHandler

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, accept: Callable[[DomainEvent], Awaitable[bool]] | None = None) -> None:
        self._accept = accept
        self._handlers: builtins.list[EventHandler] = []
        self._queue: deque[DomainEvent] = deque()
        self._loop = Loop("delivering domain events", self._deliver, logger=log)

    @property
    def subscribed(self) -> bool:
        return bool(self._handlers)

    def subscribe(self, handler: EventHandler) -> None:
        """Deliver every event put from now on to ``handler`` too (on the running loop)."""
        self._handlers.append(handler)
        self._loop.start()

    def put(self, event: DomainEvent) -> None:
        """Queue an event for delivery (call on the asyncio loop's thread)."""
        if self._handlers:
            self._queue.append(event)
            self._loop.kick()

    async def close(self) -> None:
        """Stop delivering (letting a delivery in progress finish) and forget the handlers."""
        await self._loop.stop()
        self._handlers.clear()
        self._queue.clear()

    async def _deliver(self) -> None:
        failed: Exception | None = None
        while self._queue:
            event = self._queue.popleft()
            if self._accept is not None and not await self._accept(event):
                continue
            for handler in builtins.list(self._handlers):
                try:
                    await handler(event)
                except Exception as exc:
                    exc.add_note(f"while handling {event}")
                    failed = failed or exc
        if failed is not None:
            raise failed
