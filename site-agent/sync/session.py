"""The sync session with the hub: :class:`SyncClient` (see ``sync/PROTOCOL.md``).

One websocket to ``wss://<hub>/v1/sync`` with the site certificate. The site sends
``hello`` (the applied revision and the newest fact seq it ever sent, from the store); the
hub answers ``welcome``; then at once:

- **reading**: ``changes``/``snapshot`` persisted to the inbox (:mod:`.inbox`), then acked
  ``ack{revision}``, then applied by the applier loop (a repair is applied like any change,
  and counted); ``ack{seq}`` forgets acked facts from the outbox and opens the window; a
  ``digest`` request (version 2) is answered from the hub objects the site has
  (:func:`atoll.sync.digest.respond`); a ``console`` request (version 3) is answered with
  a ``console_reply`` by :mod:`.requests`, beside the rest; ``ping`` answered ``pong``; an
  ``error`` or a frame that does not decode or comes out of order ends the session (a bad
  frame with an ``error`` frame of our own);
- **sending facts** (:mod:`.facts`) after the hub's ``acked_seq``, at most ``window`` frames
  unacked, each frame within ``max_frame``;
- **heartbeats**: a ``ping`` every ``heartbeat_interval``; nothing heard for ``dead_after``
  ends the session. The site's capacity and usage (``usage``: what the local API checks a
  new server against) go in the ``hello`` and in a ping when they changed since last said.

An ended session reconnects after a jittered exponential delay (:mod:`atoll.sync.backoff`); it is
logged once when the link goes and once when it is back. The applier runs whether or not
the hub is reachable (a crash between persist and apply is finished at start), and the
telemetry batcher queues the ring's rollups while connected (downsampled when catching up).
Nothing here is on the local API's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import aiohttp

from atoll import __version__
from atoll.background import FailureLog, Loop, LoopSettings
from atoll.client.aio import new_session
from atoll.jsonbody import JSON
from atoll.resources import versions as model_versions
from atoll.site_agent.capacity import Claim, MiB
from atoll.site_agent.console import Consoles
from atoll.site_agent.errors import HubLinkDown
from atoll.site_agent.hub_intent import HubIntent
from atoll.site_agent.hub_link import HubLink
from atoll.site_agent.ring import Ring
from atoll.site_agent.store import LocalStore
from atoll.site_agent.sync.facts import facts_after_blocking
from atoll.site_agent.sync.history import hub_history_blocking, welcome_history_blocking
from atoll.site_agent.sync.inbox import Inbox
from atoll.site_agent.sync.requests import Requests
from atoll.sync import codec, digest, versions
from atoll.sync.backoff import Backoff, Retries
from atoll.sync.frames import (
    Ack,
    Capacity,
    Changes,
    Console,
    Digest,
    Error,
    Fact,
    Facts,
    Frame,
    Hello,
    Ping,
    Pong,
    Snapshot,
    Welcome,
)
from atoll.sync.window import Window, WindowError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Frame)

# protocol versions the site speaks (2: answers anti-entropy digests; 3: console requests)
VERSIONS = (1, 2, 3)
FACT_POLL = 0.5  # seconds between looks for new statuses when nothing kicked the sender
CONNECT_TIMEOUT = 15.0  # TCP + TLS + upgrade
RECEIVE_LIMIT = 16 << 20  # the transport's own bound; the codec holds frames to max_frame
STABLE = 10.0  # a session open this long resets the reconnect backoff (one that the hub
# closes at once keeps backing off)


@dataclass(frozen=True)
class SyncSettings:
    # before the first welcome (which says how widely this hub wants reconnects spread:
    # reconnect_spread), retries spread as atoll.sync.backoff's defaults do, for a large fleet
    reconnect_initial: float = 40.0
    reconnect_max: float = 120.0
    telemetry_interval: float = 60.0  # seconds between telemetry batches while connected
    apply_interval: float = 5.0  # the inbox is looked at this often besides kicks


class _Connection:
    """One websocket: numbered frames out, checked frames in, the time a frame was heard."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, version: int) -> None:
        self.ws = ws
        self.version = version
        self.max_frame = codec.DEFAULT_MAX_FRAME
        self.sent = 0
        self.seen = 0
        self.heard_at = time.monotonic()
        self.capacity: Capacity | None = None  # as the hub last heard it in this session
        self._sending = asyncio.Lock()

    async def send(self, cls: type[F], **fields: Any) -> F:
        """One frame, numbered in the order it goes out (a ping waits for one frame at most)."""
        async with self._sending:
            self.sent += 1
            frame = cls(v=self.version, n=self.sent, **fields)
            await self.ws.send_bytes(codec.encode(frame))
        return frame

    async def receive(self) -> Frame | None:
        """The next frame (None: the hub closed); a bad one is answered with ``error``."""
        msg = await self.ws.receive()
        while msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):  # websocket's own
            if msg.type == aiohttp.WSMsgType.PING:
                await self.ws.pong(msg.data)
            msg = await self.ws.receive()
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.CLOSED):  # fmt: skip
            return None
        if msg.type == aiohttp.WSMsgType.ERROR:
            raise HubLinkDown(f"the sync connection failed: {msg.data}")
        if msg.type != aiohttp.WSMsgType.BINARY:
            await self.refuse("bad_frame", f"a frame is a binary message, not {msg.type.name}")
        try:
            frame = codec.decode(msg.data, max_frame=self.max_frame)
        except codec.FrameError as exc:
            await self.refuse(exc.code, exc.message)
        if frame.n <= self.seen:
            await self.refuse("out_of_order", f"frame number {frame.n} after {self.seen}")
        self.seen = frame.n
        self.heard_at = time.monotonic()
        return frame

    async def refuse(self, code: str, message: str) -> NoReturn:
        """Tell the hub why, close, and end the session."""
        with contextlib.suppress(Exception):
            await self.send(Error, code=code, message=message[:4000])
            await self.ws.close()
        raise HubLinkDown(f"a frame from the hub was refused ({code}): {message}")


class SyncClient:
    def __init__(
        self,
        link: HubLink,
        store: LocalStore,
        intent: HubIntent,
        ring: Ring | None = None,
        settings: SyncSettings | None = None,
        clock: Callable[[], float] | None = None,  # the store's clock by default
        usage: Callable[[], Awaitable[tuple[Claim, Claim] | None]] | None = None,
        consoles: Consoles | None = None,  # what answers the hub's console requests
    ) -> None:
        self.link = link
        self.store = store
        self.ring = ring
        self.settings = settings or SyncSettings()
        self.clock = clock or store.clock
        self.intent = intent
        self.usage = usage
        self.consoles = consoles
        self.inbox = Inbox(store, intent)
        self.connected = False
        self.spread: float | None = None  # the last welcome's reconnect_spread, until used
        self.session = ""
        self.sessions = 0  # sessions opened since start
        self.last_ack_at: float | None = None
        self._health = FailureLog(f"sync with the hub at {link.url}", log)
        self._wake = asyncio.Event()  # new facts to send
        self._acked = asyncio.Event()  # the window opened
        # unacked facts frames, marked by their last seq (resent from the outbox, not kept)
        self._window: Window[None] = Window(1)
        self._task: asyncio.Task[None] | None = None
        self._applier = Loop(
            "applying hub changes",
            self._apply_pass,
            LoopSettings(interval=self.settings.apply_interval, stop_timeout=5.0),
            logger=log,
        )
        self._telemetry = Loop(
            "telemetry batches for the hub",
            self._telemetry_pass,
            LoopSettings(interval=self.settings.telemetry_interval, stop_timeout=1.0),
            logger=log,
        )

    # -- life --------------------------------------------------------------------------
    async def start(self) -> None:
        self._applier.start()
        self._telemetry.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hub sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._telemetry.stop()
        await self._applier.stop()

    def kick(self) -> None:
        """New facts are queued: send them now rather than at the next poll."""
        self._wake.set()

    @property
    def last_error(self) -> str:
        return self._health.last_error

    async def figures(self) -> JSON:
        """What ``/v1/health`` and the metrics say of sync."""

        def read() -> JSON:
            return {
                "outbox_depth": self.store.table_count("outbox"),
                "inbox_depth": self.store.table_count("inbox"),
                "applied_revision": self.store.counter("applied_revision"),
                "acked_seq": self.store.counter("acked_seq"),
            }

        return {
            "hub": self.link.url,
            "site_id": self.link.site_id,
            "connected": self.connected,
            "session": self.session,
            "last_ack_at": self.last_ack_at,
            "last_error": self.last_error,
            "changes_applied": self.inbox.applied,
            "repairs": self.inbox.repairs,
            **await self.store.call(read),
        }

    async def _run(self) -> None:
        rng = random.Random()
        backoff = Retries(self._backoff(self.settings.reconnect_initial), rng)
        while True:
            opened_at: list[float] = []  # set when a welcome came
            try:
                await self._connect(opened_at)
                raise HubLinkDown("the hub closed the sync session")
            except (HubLinkDown, aiohttp.ClientError, OSError, TimeoutError) as exc:
                self._health.failed(exc if isinstance(exc, HubLinkDown) else HubLinkDown(
                    f"the hub is unreachable: {type(exc).__name__}: {exc}"))  # fmt: skip
            except Exception as exc:  # a bug: logged with its traceback, and retried
                self._health.failed(exc)
            finally:
                self.connected = False
            if self.spread is not None:  # the hub said how widely to spread: from now on
                backoff = Retries(self._backoff(self.spread), rng)
                self.spread = None
            if opened_at and time.monotonic() - opened_at[0] >= STABLE:
                backoff.reset()  # a session that lasted: the next try starts quick again
            await asyncio.sleep(backoff.next_delay())

    def _backoff(self, first: float) -> Backoff:
        cap = max(first, self.settings.reconnect_max)
        return Backoff(first=min(first, cap), cap=cap)

    # -- one session -------------------------------------------------------------------
    async def _connect(self, opened_at: list[float]) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
        async with (
            new_session(timeout=timeout) as http,
            http.ws_connect(
                self.link.sync_url,
                ssl=self.link.ssl_context(),
                autoping=False,
                max_msg_size=RECEIVE_LIMIT,
                compress=0,
            ) as ws,
        ):
            conn = _Connection(ws, max(VERSIONS))
            welcome = await self._open(conn)
            opened_at.append(time.monotonic())
            self.spread = welcome.reconnect_spread
            self._health.succeeded()
            log.info("sync session %s with the hub at %s is open (protocol version %d)",
                     welcome.session, self.link.url, welcome.v)  # fmt: skip
            requests = Requests(self.consoles, conn.send, conn.version, conn.max_frame)
            await _first_to_end(
                self._read(conn, requests),
                self._send_facts(conn, welcome),
                self._heartbeat(conn, welcome),
                requests.run(),
            )

    async def _open(self, conn: _Connection) -> Welcome:
        def where() -> tuple[int, int, str]:
            return (self.store.counter("applied_revision"), self.store.counter("sent_seq"),
                    hub_history_blocking(self.store))  # fmt: skip

        applied, sent, history = await self.store.call(where)
        conn.capacity = await self._capacity()
        await conn.send(
            Hello,
            capacity=conn.capacity,
            versions=VERSIONS,
            site_id=self.link.site_id,
            agent_version=__version__[:64],
            model_version=model_versions.CURRENT,
            applied_revision=applied,
            sent_seq=sent,
            history=history,
        )
        frame = await conn.receive()
        if isinstance(frame, Error):
            raise HubLinkDown(f"the hub refused the session ({frame.code}): {frame.message}")
        if not isinstance(frame, Welcome):
            what = "nothing" if frame is None else frame.TYPE
            await conn.refuse("out_of_order", f"expected welcome, got {what}")
        if frame.v not in VERSIONS:
            await conn.refuse(
                "bad_version", f"the hub chose version {frame.v}; this site speaks {VERSIONS}"
            )
        conn.version, conn.max_frame = frame.v, frame.max_frame
        self.connected, self.session = True, frame.session
        self.sessions += 1
        self._window = Window(frame.window, acked=frame.acked_seq)
        # what the hub recorded in an earlier session leaves the outbox now; a hub that has
        # recorded more than this store ever numbered (a restored backup) would ignore the
        # next facts: number them after its acked seq
        await self.store.call(self.store.outbox_acked, frame.acked_seq)
        await self.store.call(self.store.raise_counter, "status_seq", frame.acked_seq)
        # a hub store of another history (restored from a backup): the site starts over,
        # offering what it made again, before any fact of this session goes up
        await self.store.call(welcome_history_blocking, self.store, frame.history)
        self._applier.kick()
        self._telemetry.kick()
        return frame

    async def _read(self, conn: _Connection, requests: Requests) -> None:
        while (frame := await conn.receive()) is not None:
            if isinstance(frame, Changes | Snapshot):
                await self.inbox.persist(frame)  # durable first,
                await conn.send(Ack, revision=frame.revision)  # then acked,
                self._applier.kick()  # then applied
            elif isinstance(frame, Ack):
                if frame.seq is not None:
                    await self._facts_acked(conn, frame.seq)
            elif isinstance(frame, Digest) and not frame.reply and conn.version >= 2:
                await self._answer_digest(conn, frame)
            elif isinstance(frame, Console) and versions.supports(conn.version, "console"):
                await requests.take(frame)
            elif isinstance(frame, Ping):
                await conn.send(Pong)
            elif isinstance(frame, Pong):
                pass
            elif isinstance(frame, Error):
                raise HubLinkDown(f"the hub ended the session ({frame.code}): {frame.message}")
            else:
                await conn.refuse("out_of_order", f"a {frame.TYPE} frame is not expected now")

    async def _answer_digest(self, conn: _Connection, request: Digest) -> None:
        """Anti-entropy: say which of the hub's ranges differ here (listed or split)."""
        pairs = await self.store.call(self.intent.digest_items)
        try:
            ranges = digest.respond(digest.Items(pairs), request.ranges)
        except digest.DigestError as exc:
            await conn.refuse(exc.code, str(exc))
        await conn.send(Digest, round=request.round, reply=True, ranges=ranges)

    async def _facts_acked(self, conn: _Connection, seq: int) -> None:
        try:
            self._window.ack(seq)
        except WindowError as exc:
            await conn.refuse(exc.code, str(exc))
        await self.store.call(self.store.outbox_acked, seq)
        self.last_ack_at = self.clock()
        self._acked.set()
        self._applier.kick()  # a change held behind an acked local change can settle

    async def _send_facts(self, conn: _Connection, welcome: Welcome) -> None:
        cursor = welcome.acked_seq  # resend everything the hub has not recorded
        while True:
            while self._window.full:
                self._acked.clear()
                await self._acked.wait()
            self._wake.clear()
            facts = await self.store.call(facts_after_blocking, self.store, cursor)
            if not facts:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), FACT_POLL)
                continue
            items = _fit(facts, conn.version, conn.max_frame)
            cursor = items[-1].seq
            # kept before it goes: the next hello's sent_seq never says less than went out
            await self.store.call(self.store.raise_counter, "sent_seq", cursor)
            self._window.sent(cursor, None)
            await conn.send(Facts, items=items)

    async def _heartbeat(self, conn: _Connection, welcome: Welcome) -> None:
        tick = min(welcome.heartbeat_interval, welcome.dead_after / 4)
        pinged = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - conn.heard_at > welcome.dead_after:
                raise HubLinkDown(
                    f"nothing heard from the hub for {welcome.dead_after:g} s; reconnecting"
                )
            if now - pinged >= welcome.heartbeat_interval:
                pinged = now
                capacity = await self._capacity()
                changed = capacity is not None and capacity != conn.capacity
                conn.capacity = capacity if changed else conn.capacity
                await conn.send(Ping, capacity=capacity if changed else None)

    async def _capacity(self) -> Capacity | None:
        """The site's capacity and usage as the hub records them (disk in GB, rounded up),
        within the bounds the hub checks (a host's allocation ratios may claim more)."""
        figures = None if self.usage is None else await self.usage()
        if figures is None:
            return None
        totals, used = figures
        said = Capacity(vcpus=totals.vcpus, ram_mb=totals.ram_mb,
                        disk_gb=totals.disk_bytes // (1024 * MiB), used_vcpus=used.vcpus,
                        used_ram_mb=used.ram_mb,
                        used_disk_gb=-(-used.disk_bytes // (1024 * MiB)))  # fmt: skip
        return said.within_bounds()

    # -- loops beside the session ------------------------------------------------------
    async def _apply_pass(self) -> None:
        await self.inbox.apply_pending()

    async def _telemetry_pass(self) -> None:
        if self.ring is None or not self.connected:
            return  # offline, rollups wait in the ring; the first batch back is downsampled
        if await self.store.call(self.ring.ship_blocking, self.clock()):
            self.kick()


def _fit(facts: list[Fact], version: int, max_frame: int) -> tuple[Fact, ...]:
    """The longest head of ``facts`` whose frame fits in ``max_frame`` (at least one)."""
    items = tuple(facts)
    while (
        len(items) > 1 and len(codec.encode(Facts(v=version, n=1 << 31, items=items))) > max_frame
    ):
        items = items[: len(items) // 2]
    return items


async def _first_to_end(*jobs: Awaitable[None]) -> None:
    """Run ``jobs`` together until one ends; cancel the rest; re-raise what it raised."""
    tasks = [asyncio.ensure_future(j) for j in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    failures = [t.exception() for t in done if not t.cancelled() and t.exception()]
    failures.sort(key=lambda exc: not isinstance(exc, HubLinkDown))  # the reason, not an echo
    if failures:
        raise failures[0]  # type: ignore[misc]
