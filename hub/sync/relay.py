"""Requests to a site relayed through the hub store, from any hub process on it.

A site's sync session lands on one hub process; a request for the site (a server's console
log, :mod:`.console`) may come to any process sharing the store (several hubs on one etcd
store). The process that gets it and holds no session of the site relays it through the
store, which every process follows already; there is no network path between hubs. Every
record is of kind :data:`KIND`: the request under a fresh id, its reply under
``<id>/reply``::

    asking process                  store                   process holding the session
    put <id> (create): site_id,     <id>                ->  watch: a request for a site
      ask, asker, deadline,                                 whose session is here: take it
      reply_by, timeout                                     (put taken_by, if <id> is
                                                            unchanged: one process asks)
                                    <id> taken_by           ask the site, until reply_by
    watch: <id>/reply           <-  <id> gone,          <-  commit: delete <id> as taken
    delete <id>/reply               <id>/reply              and create <id>/reply; if <id>
                                                            is gone, nothing (no one waits)

:meth:`Relay.ask` gives up at the deadline (``timeout`` seconds on): it deletes the request
as it read it, and says whether a process had taken it (:class:`NotAnswered`) or none had
(:class:`NotTaken`: no process holds a session of the site). If the request is gone
already, the holder answered meanwhile, and the reply is read. The holder answers by
``reply_by``, a little before the deadline, so its reply arrives in time. Deadlines are
wall-clock times: the hub processes' clocks are taken to agree within that margin.

What the relay carries is what the asker gives it (``ask``, a small JSON object) and what
the holder's ``answer`` makes of it: the asker checks whatever it must (who may ask)
before it writes anything; a holder asks the site what the request says, nothing more.

Bounds: one process has at most :data:`MAX_WAITING` relayed requests of one site waiting
(:class:`RelayBusy` beyond, nothing written); a holder works on at most
:data:`HOLDER_WORKERS` requests at once, :data:`MAX_WAITING` of one site, and answers
more with a busy reply at once. Records are deleted after use; what a process that stopped
(or a lost race) leaves is deleted by a sweep in every process, ``grace`` seconds past its
deadline, so nothing accumulates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeGuard

from atoll.background import Loop, LoopSettings, WorkerLimits, Workers
from atoll.errors import NotFound, StaleRevision
from atoll.hub.store.base import Change, Delete, Put, Store, Write
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON

log = logging.getLogger(__name__)

KIND = "site_request"
REPLY = "/reply"  # a reply's key: the request's id and this
MAX_WAITING = 16  # relayed requests of one site one process waits for; one holder works on
HOLDER_WORKERS = 256  # requests one holder works on at once
MARGIN = 1.0  # seconds before the deadline the holder replies by, at most a fifth of it
SWEEP_EVERY = 60.0  # seconds between sweeps of leftovers
SWEEP_GRACE = 60.0  # seconds past its deadline a leftover is swept


class RelayError(Exception):
    """A relayed request that got no answer."""


class NotTaken(RelayError):
    """No hub process holding a session of the site took the request by its deadline."""


class NotAnswered(RelayError):
    """A hub process took the request (``by``) and did not reply by its deadline."""

    def __init__(self, message: str, by: str) -> None:
        super().__init__(message)
        self.by = by


class RelayBusy(RelayError):
    """Too many requests of the site wait already (here, or at the holder)."""


@dataclass(frozen=True)
class Asked:
    """A relayed request, as its holder answers it."""

    site_id: str
    ask: JSON  # what the asker wrote: the holder's ``answer`` reads it
    wait: float  # seconds the holder may wait for the site (to ``reply_by``)
    timeout: float  # the seconds the asker waits in all (its sync_request_timeout)


Answer = Callable[[Asked], Awaitable[JSON]]


def process_name() -> str:
    """This hub process, as a request's ``asker`` and ``taken_by`` name it."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Relay:
    def __init__(
        self,
        store: Store,
        holds: Callable[[str], bool],
        answer: Answer,
        clock: Callable[[], float],
        *,
        process: str | None = None,
        sweep_every: float = SWEEP_EVERY,
        grace: float = SWEEP_GRACE,
    ) -> None:
        """``holds(site_id)``: whether a session of the site is open here; ``answer``: what
        a holder replies to a request it took (called only while it holds the site)."""
        self.store = store
        self.process = process or process_name()
        self._holds = holds
        self._answer = answer
        self._clock = clock
        self._grace = grace
        self._waiting: dict[str, tuple[str, asyncio.Future[JSON]]] = {}  # id: site, waiter
        self._since: int | None = None
        self._workers = Workers("site request relay", WorkerLimits(HOLDER_WORKERS, MAX_WAITING),
                                logger=log)  # fmt: skip
        self._follower = Loop("site request relay", self._follow,
                              LoopSettings(interval=0.0, retry=1.0), logger=log)  # fmt: skip
        self.sweeper = Loop("site request sweep", self._sweep_pass,
                            LoopSettings(interval=sweep_every, initial_delay=sweep_every),
                            logger=log)  # fmt: skip

    async def start(self) -> None:
        self._since = None  # the first pass reads what is there, then follows from there
        self._follower.start()
        self.sweeper.start()

    async def stop(self) -> None:
        await self.sweeper.cancel()
        await self._follower.cancel()
        await self._workers.stop(grace=1.0)

    # -- asking ----------------------------------------------------------------------------
    async def ask(self, site_id: str, ask: JSON, within: float) -> JSON:
        """Relay ``ask`` to the process holding site ``site_id``'s session, and return what
        it answered, if it does within ``within`` seconds: else NotTaken or NotAnswered;
        RelayBusy if :data:`MAX_WAITING` of the site's wait here, or at the holder."""
        if sum(site == site_id for site, _ in self._waiting.values()) >= MAX_WAITING:
            raise RelayBusy(f"{MAX_WAITING} requests relayed to it wait at this hub process")
        request_id = secrets.token_hex(16)
        now = self._clock()
        value = {
            "site_id": site_id,
            "ask": ask,
            "asker": self.process,
            "timeout": within,
            "deadline": now + within,
            "reply_by": now + within - min(MARGIN, within / 5),
        }
        waiter: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = (site_id, waiter)
        try:
            await self.store.put(KIND, request_id, value, expect_revision=0)
            try:
                async with asyncio.timeout(within):
                    reply = await waiter
            except TimeoutError:
                reply = await self._settle(request_id)
            else:
                with contextlib.suppress(NotFound):
                    await self.store.delete(KIND, request_id + REPLY)
        finally:
            del self._waiting[request_id]
        if "busy" in reply:
            raise RelayBusy(str(reply["busy"]))
        answer = reply.get("answer")
        if not isinstance(answer, dict):
            raise NotAnswered(f"the reply of {reply.get('by')} carries no answer", "")
        return answer

    async def _settle(self, request_id: str) -> JSON:
        """The deadline passed: delete the request as it stands, and say why it got no
        reply; or, if it is gone, the holder replied meanwhile: that reply."""
        for _ in range(3):
            try:
                request = await self.store.get(KIND, request_id)
            except NotFound:
                break
            try:
                await self.store.delete(KIND, request_id, expect_revision=request.revision)
            except (NotFound, StaleRevision):
                continue  # taken or answered as it was read: read it again
            by = request.value.get("taken_by")
            if isinstance(by, str) and by:
                raise NotAnswered(f"hub process {by} took it and did not reply in time", by)
            raise NotTaken("no hub process holding a session of the site took it")
        try:
            reply = await self.store.get(KIND, request_id + REPLY)
        except NotFound as exc:
            raise NotAnswered("its reply is gone (swept?)", "") from exc
        with contextlib.suppress(NotFound, StaleRevision):
            await self.store.delete(KIND, reply.key, expect_revision=reply.revision)
        return reply.value

    # -- following the store ---------------------------------------------------------------
    async def _follow(self) -> None:
        if self._since is None:  # at start, or after a failure: what is there, then follow
            self._since = await self.store.revision()
            for record in await list_all(self.store, KIND, {}):
                await self._saw(Change(record.revision, KIND, record.key, "put", record.value))
        try:
            async for change in self.store.watch(self._since, kind=KIND):
                self._since = change.revision
                await self._saw(change)
        except BaseException:
            self._since = None
            raise

    async def _saw(self, change: Change) -> None:
        if change.value is None:
            return
        request_id, slash, _ = change.key.partition("/")
        if slash:  # a reply: to a waiter here, if it still waits
            held = self._waiting.get(request_id)
            if held is not None and not held[1].done():
                held[1].set_result(change.value)
            return
        value = change.value
        site_id, deadline = value.get("site_id"), value.get("deadline")
        if value.get("taken_by") or not isinstance(site_id, str) or not self._holds(site_id):
            return
        if self._workers.busy(request_id):  # seen again (a catch-up after a failure)
            return
        if not _number(deadline) or not _number(value.get("reply_by")):
            return  # not a request this hub writes: the sweep removes it
        if deadline <= self._clock():
            return
        if not self._workers.room(site_id):
            busy = {
                "busy": f"{MAX_WAITING} requests relayed to it wait at hub process "
                f"{self.process}, which holds its session",
                "deadline": deadline,
            }
            await self._reply(request_id, change.revision, busy)
            return
        self._workers.start(request_id, site_id,
                            partial(self._serve, request_id, value, change.revision))  # fmt: skip

    async def _serve(self, request_id: str, value: JSON, revision: int) -> None:
        """Take the request (if it is still as seen), answer it, reply."""
        try:
            taken = await self.store.put(KIND, request_id, {**value, "taken_by": self.process},
                                         expect_revision=revision)  # fmt: skip
        except (NotFound, StaleRevision):
            return  # the asker gave up, or another process took it
        timeout = float(value.get("timeout") or 0.0)
        wait = max(0.0, min(float(value["reply_by"]) - self._clock(), timeout))
        ask = value.get("ask")
        asked = Asked(str(value["site_id"]), ask if isinstance(ask, dict) else {}, wait, timeout)
        answer = await self._answer(asked)
        reply = {"answer": answer, "by": self.process, "deadline": value["deadline"]}
        await self._reply(request_id, taken.revision, reply)

    async def _reply(self, request_id: str, revision: int, reply: JSON) -> None:
        """Delete the request as it was at ``revision`` and write its reply, together; or
        nothing, if the asker gave up on it."""
        writes: list[Write] = [Delete(KIND, request_id, expect_revision=revision),
                               Put(KIND, request_id + REPLY, reply, expect_revision=0)]  # fmt: skip
        with contextlib.suppress(NotFound, StaleRevision):
            await self.store.commit(writes)

    # -- leftovers -------------------------------------------------------------------------
    async def _sweep_pass(self) -> None:
        await self.sweep()

    async def sweep(self) -> int:
        """Delete requests and replies ``grace`` seconds past their deadline (their asker
        and holder are done with them, or gone); how many went."""
        now, gone = self._clock(), 0
        for record in await list_all(self.store, KIND, {}):
            deadline = record.value.get("deadline")
            if _number(deadline) and deadline + self._grace > now:
                continue
            with contextlib.suppress(NotFound, StaleRevision):
                await self.store.delete(KIND, record.key, expect_revision=record.revision)
                gone += 1
        if gone:
            log.info("swept %d relayed site requests and replies left past their deadline",
                     gone)  # fmt: skip
        return gone


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
