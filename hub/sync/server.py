"""``GET /v1/sync``: the hub's end of every site's session, and the liveness sweep.

:class:`SyncServer` is built once per app (:func:`install`). Its handler:

1. names the site by its certificate (:func:`atoll.hub.sites.peers.site_peer`): no site
   certificate is a 401 before the upgrade;
2. upgrades (binary frames, no compression) and reads the ``hello``: its ``site_id`` must be
   the certificate's, the versions must meet (:func:`atoll.sync.versions.negotiate`);
3. claims the site for a new session epoch in the store (``sync.session`` on the site
   record), so a newer session supersedes an older one here or in another hub process: the
   older one gets ``error superseded``, and its cleanup, which checks the epoch, changes
   nothing of the new one's. An ``acked_seq`` no site counts to (:func:`recorded_seq`: one
   an older hub recorded before ``bad_seq``) is taken as unknown in the same write: 0, so
   the site sends all it holds again; logged once;
4. answers ``welcome`` and runs the session (:class:`.session.Session`) in three tasks:
   one reads frames and answers pings and acks at once, one records facts in order (at
   most ``window`` facts frames queued: more is ``error window_exceeded``), one sends intent.

One :class:`atoll.background.Loop` sweeps every ``heartbeat_interval / 2`` seconds (not a
timer per site): it closes sessions silent for ``dead_after`` (``error dead``), writes each
session's figures to its site record (:data:`FLUSH_AT_ONCE` sites at a time, which the store
commits together) when acks or facts changed them (and its
``last_heard`` at least every ``dead_after / 3``; pings alone write nothing, unless one
carries the site's capacity, which a site sends only when it changed: it goes in the same
write, as :func:`atoll.hub.sites.registry.reported` says; a hello's goes in the claim), and marks
``offline`` every online site not heard for ``dead_after`` by any hub process (a session
that ended, or a hub process that died, leaves no one else to do it). A site that
reconnects within ``dead_after`` never shows offline.

A frame that does not decode, comes out of order or is too large closes only that
connection with an ``error`` frame carrying the :class:`atoll.sync.codec.FrameError` code.

Anti-entropy (protocol version 2, :mod:`.antientropy`) runs in a session's down task every
``sync_digest_interval`` seconds; the reader hands it the site's digest replies. Requests
(version 3: a console log, :mod:`.console`) are sent by the API's handler through the
site's session here (:meth:`SyncServer.session_of`), or, if another hub process on the
store holds it, relayed through the store to that one (:mod:`.relay`), which sends them
through its session; the reader hands each reply to its waiter, and a session that ends
fails the waiters it leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from typing import Any

from aiohttp import WSMsgType, web

from atoll.background import Loop, LoopSettings
from atoll.errors import InvalidInput, NotFound, Unauthenticated
from atoll.hub.settings import HubSettings
from atoll.hub.sites.peers import SiteNames, SitePeer, site_peer
from atoll.hub.sites.registry import SITE_KIND, edit_site, reported
from atoll.hub.store import history as store_history
from atoll.hub.store.base import Store
from atoll.hub.store.history import history_id
from atoll.hub.store.query import list_all
from atoll.hub.sync.facts import record_facts
from atoll.hub.sync.feed import Feed
from atoll.hub.sync.session import Limits, Session, SessionError
from atoll.hub.telemetry.keeper import TelemetryKeeper
from atoll.jsonbody import JSON
from atoll.sync import codec, frames, versions
from atoll.timestamps import iso

log = logging.getLogger(__name__)

FLUSH_AT_ONCE = 128  # site records a sweep writes at once (one group commit)
# a fact's seq the hub records: at most MAX_SEQ (JSON numbers are exact to 2^53), at most
# MAX_SEQ_GAP past the seq before it (a site counts one a fact; 2^32 is 136 years at one a
# second). Beyond either, the session is closed with ``bad_seq`` instead of acknowledging it
MAX_SEQ = (1 << 53) - 1
MAX_SEQ_GAP = 1 << 32


class SyncServer:
    def __init__(
        self,
        settings: HubSettings,
        store: Store,
        telemetry: TelemetryKeeper,
        site_names: SiteNames,
        clock: Any = time.time,
    ) -> None:
        self.store = store
        self.site_names = site_names
        self.telemetry = telemetry
        self.clock = clock
        self.limits = Limits(
            heartbeat_interval=settings.sync_heartbeat_interval,
            dead_after=settings.sync_dead_after,
            window=settings.sync_window,
            max_frame=settings.sync_max_frame,
            digest_interval=settings.sync_digest_interval,
            reconnect_rate=settings.sync_reconnect_rate,
            event_limit=settings.site_event_limit,
            operation_limit=settings.site_operation_limit,
            object_limit=settings.site_object_limit,
        )
        self.feed = Feed(store, settings.sync_queue)
        self.sessions: dict[str, Session] = {}
        self.history = ""  # the store's history id, read at start
        # the mark of the store's history and revision this hub saw (hub.store.history)
        self.mark_path = settings.data_dir / store_history.MARK_FILE
        self.marking = False  # the hub has a data dir to keep the mark in (not a test's)
        self.marked_at = 0.0  # monotonic time of the last write of the mark
        self.sweeper = Loop(
            "sync liveness sweep",
            self.sweep,
            LoopSettings(interval=max(settings.sync_heartbeat_interval / 2, 0.05)),
            logger=log,
        )

    def reconnect_spread(self) -> float:
        """Seconds over which this hub's sites should spread their reconnects: its sessions
        at ``reconnect_rate`` per second, at least one (a small fleet is back at once)."""
        return round(max(1.0, (len(self.sessions) + 1) / self.limits.reconnect_rate), 1)

    async def start(self) -> None:
        self.history = await store_history.checked_history(self.store, self.mark_path)
        self.marking = self.mark_path.parent.is_dir()
        await self.feed.start()
        self.sweeper.start()

    async def _mark(self, every: float = store_history.MARK_INTERVAL) -> None:
        """Write the mark of the store's history and revision, if ``every`` seconds have
        passed since the last write."""
        if not self.marking or time.monotonic() - self.marked_at < every:
            return
        self.marked_at = time.monotonic()
        mark = store_history.Mark(self.history, await self.store.revision())
        await asyncio.to_thread(store_history.write_mark, self.mark_path, mark)

    async def stop(self) -> None:
        await self.sweeper.cancel()
        if self.history:
            try:
                await self._mark(every=0.0)
            except Exception as exc:  # the store may be gone already: the last mark stays
                log.warning("could not write %s at stop: %s", self.mark_path, exc)
        for session in list(self.sessions.values()):
            await session.fail("shutdown", "the hub is stopping; reconnect")
        await self.feed.stop()

    # -- the handler -----------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = await site_peer(request, self.site_names)
        if peer is None:
            raise Unauthenticated("/v1/sync needs a site certificate (join the site first)")
        # aiohttp drops a message over its limit with a bare close; up to twice max_frame the
        # codec refuses it instead, with an error frame the site can log
        ws = web.WebSocketResponse(
            compress=False, max_msg_size=2 * self.limits.max_frame, autoping=True
        )
        await ws.prepare(request)
        session: Session | None = None
        try:
            session = await self._open(ws, peer)
            await self._run(session)
        except SessionError as exc:
            if session is not None:
                await session.fail(exc.code, exc.message)
            else:
                await _refuse(ws, exc.code, exc.message)
        except Exception as exc:  # the store failed, or a bug: this session ends, not the hub
            log.exception("site %s sync session failed", peer.site_name)
            message = f"the hub could not go on: {type(exc).__name__}; reconnect"
            if session is not None:
                await session.fail("internal", message)
            else:
                await _refuse(ws, "internal", message)
        finally:
            if session is not None:
                await self._release(session)
            if not ws.closed:
                await ws.close()
        return ws

    async def _open(self, ws: web.WebSocketResponse, peer: SitePeer) -> Session:
        try:
            msg = await ws.receive(timeout=self.limits.dead_after)
        except TimeoutError as exc:
            raise SessionError("dead", "no hello within dead_after") from exc
        hello = _frame(msg, self.limits.max_frame)
        if not isinstance(hello, frames.Hello) or hello.n != 1:
            raise SessionError("out_of_order", "the first frame is a hello numbered 1")
        if hello.site_id != peer.site_id:
            raise SessionError("wrong_site", f"this certificate is site {peer.site_id}'s, "
                               f"not {hello.site_id}'s")  # fmt: skip
        try:
            version = versions.negotiate(hello.versions)
        except versions.NoCommonVersion as exc:
            raise SessionError("no_common_version", str(exc)) from exc
        epoch = secrets.token_hex(8)
        if not self.history:  # not started (a test's server): read it now
            self.history = await history_id(self.store)
        # revisions of another history (the store was restored from a backup since the site
        # applied them): the site starts over whatever the numbers say
        foreign = bool(hello.history) and hello.history != self.history
        if foreign:
            log.info("site %s applied revisions of another history of the hub's store (%s, "
                     "this one is %s: restored from a backup?): it starts over with a "
                     "snapshot", peer.site_name, hello.history, self.history)  # fmt: skip
        capacity = _capacity(peer.site_name, hello)
        claimed = await self._claim(peer.site_name, epoch, version, hello.sent_seq, capacity)
        session = Session(ws, self.store, self.feed, self.limits, site=claimed, epoch=epoch,
                          version=version, applied_revision=hello.applied_revision,
                          acked_seq=int(claimed["sync"].get("acked_seq") or 0),
                          foreign=foreign)  # fmt: skip
        session.sent_seq = hello.sent_seq
        older = self.sessions.get(peer.site_id)
        self.sessions[peer.site_id] = session
        if older is not None:
            await older.fail("superseded", "a newer session of this site took over")
        await session.send(
            frames.Welcome(
                v=version,
                session=epoch,
                hub_revision=await self.store.revision(),
                acked_seq=session.acked_seq,
                heartbeat_interval=self.limits.heartbeat_interval,
                dead_after=self.limits.dead_after,
                max_frame=self.limits.max_frame,
                window=self.limits.window,
                reconnect_spread=self.reconnect_spread(),
                history=self.history,
            )
        )
        log.info("site %s sync session %s open (v%d, from revision %d)", peer.site_name, epoch,
                 version, hello.applied_revision)  # fmt: skip
        return session

    async def _claim(
        self, name: str, epoch: str, version: int, sent_seq: int, capacity: frames.Capacity | None
    ) -> JSON:
        now = self.clock()
        unknown: list[object] = []  # an acked_seq no site counts to, taken as unknown

        def claim(site: JSON) -> JSON:
            sync = {**site.get("sync", {})}
            unknown[:] = []
            if not recorded_seq(sync.get("acked_seq")):
                unknown.append(sync.get("acked_seq"))
                sync["acked_seq"] = 0
            sync.update(session=epoch, protocol_version=version, last_heard=now,
                        sessions=int(sync.get("sessions") or 0) + 1, sent_seq=sent_seq,
                        last_sync=iso(now))  # fmt: skip
            state = site["state"] if site["state"] == "maintenance" else "online"
            site = {**site, "sync": sync, "state": state, "last_seen": iso(now)}
            if capacity is not None:
                site = reported(site, capacity.totals(), capacity.used(), now)
            return site

        value = await edit_site(self.store, name, claim)
        assert value is not None
        if unknown:  # written with the claim: the next hello finds it healed, said once
            log.warning("site %s: the hub had recorded its facts up to seq %s, which no site "
                        "counts to (at most %d; an older hub acknowledged such a seq before "
                        "bad_seq): taken as unknown, the site sends again all it holds",
                        name, unknown[0], MAX_SEQ)  # fmt: skip
        return value

    async def _run(self, session: Session) -> None:
        """Three tasks: read frames (answering pings and acks at once), record facts (in
        order, at most ``window`` frames queued), send intent. The first to end or fail ends
        the session; a SessionError from any of them closes it with that error."""
        facts: asyncio.Queue[frames.Facts] = asyncio.Queue(maxsize=self.limits.window)
        tasks = [
            asyncio.create_task(self._read(session, facts), name=f"sync up {session.site_name}"),
            asyncio.create_task(
                self._record(session, facts), name=f"sync facts {session.site_name}"
            ),
            asyncio.create_task(session.down(), name=f"sync down {session.site_name}"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended it
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read(self, session: Session, facts: asyncio.Queue[frames.Facts]) -> None:
        async for msg in session.ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
            frame = _frame(msg, self.limits.max_frame)
            session.last_frame = time.monotonic()  # last_heard is written by the sweep
            session.frames_in += 1
            if frame.n != session.frames_in:
                raise SessionError("out_of_order", f"frame {frame.n} came where "
                                   f"{session.frames_in} was due")  # fmt: skip
            if isinstance(frame, frames.Facts):
                _check_order(frame)
                try:
                    facts.put_nowait(frame)
                except asyncio.QueueFull as exc:
                    raise SessionError("window_exceeded", f"more than {self.limits.window} "
                                       "facts frames unacknowledged") from exc  # fmt: skip
            else:
                await self._dispatch(session, frame)

    async def _record(self, session: Session, facts: asyncio.Queue[frames.Facts]) -> None:
        while True:
            frame = await facts.get()
            await self._facts(session, frame)

    async def _dispatch(self, session: Session, frame: frames.Frame) -> None:
        if isinstance(frame, frames.Ping):
            await session.send(frames.Pong(v=session.version))
            capacity = _capacity(session.site_name, frame)
            if capacity is not None:  # it changed: the next sweep writes it
                session.capacity, session.dirty = capacity, True
        elif isinstance(frame, frames.Pong):
            pass  # the hub sends no pings today; a pong is harmless
        elif isinstance(frame, frames.Ack):
            if frame.revision is not None:
                await session.acked(frame.revision)
        elif isinstance(frame, frames.Digest):
            if not (frame.reply and versions.supports(session.version, "digest")):
                raise SessionError("out_of_order", "the hub opens digest rounds; a site replies")
            try:
                session.digest_replies.put_nowait(frame)
            except asyncio.QueueFull as exc:
                raise SessionError("window_exceeded", "too many digest replies") from exc
        elif isinstance(frame, frames.ConsoleReply) and versions.supports(
            session.version, "console"
        ):
            session.answered(frame)
        elif isinstance(frame, frames.Error):
            log.info("site %s closed its session: %s: %s", session.site_name, frame.code,
                     frame.message)  # fmt: skip
            await session.ws.close()
        else:
            raise SessionError("out_of_order", f"a site does not send {frame.TYPE} frames here")

    async def _facts(self, session: Session, frame: frames.Facts) -> None:
        """Record and acknowledge the frame's facts up to the first whose seq no site's
        counter makes (:func:`implausible_seq`), then close with ``bad_seq`` naming it."""
        items, problem = implausible_seq(frame.items, session.acked_seq)
        if items:
            done = await record_facts(self.store, self.telemetry, session.site, items,
                                      session.acked_seq, iso(self.clock()), session.events,
                                      session.operations, session.objects)  # fmt: skip
            session.acked_seq = done.acked_seq
            session.sent_seq = max(session.sent_seq, done.acked_seq)
            session.telemetry += done.telemetry
            session.dirty = True
            await session.send(frames.Ack(v=session.version, seq=session.acked_seq))
        if problem:
            log.warning("site %s: %s", session.site_name, problem)
            raise SessionError("bad_seq", problem)

    def session_of(self, site_id: str) -> Session | None:
        """The open session of site ``site_id`` at this hub process, if there is one."""
        session = self.sessions.get(site_id)
        return session if session is not None and session.closing is None else None

    async def _release(self, session: Session) -> None:
        session.end_requests()
        if self.sessions.get(session.site_id) is session:
            del self.sessions[session.site_id]
        await self._flush(session, release=True)

    # -- figures and liveness --------------------------------------------------------------
    async def _flush(self, session: Session, *, release: bool = False) -> None:
        """Write the session's figures to its site record, if the session is still the
        site's (the epoch); ``release`` also ends its claim."""
        now = self.clock()
        figures = session.figures(now)
        batches, session.telemetry = session.telemetry, 0
        repairs, session.repairs = session.repairs, 0
        capacity, session.capacity = session.capacity, None

        taken = False

        def write(site: JSON) -> JSON | None:
            nonlocal taken
            sync = {**site.get("sync", {})}
            if sync.get("session") != session.epoch:
                taken = True
                return None  # superseded: the newer session's figures are not ours to touch
            sync.update(figures)
            sync["telemetry_batches"] = int(sync.get("telemetry_batches") or 0) + batches
            sync["repairs"] = int(sync.get("repairs") or 0) + repairs
            sync["last_sync"] = iso(figures["last_heard"])
            if release:
                sync["session"] = None
            site = {**site, "sync": sync, "last_seen": iso(figures["last_heard"])}
            if capacity is not None:
                site = reported(site, capacity.totals(), capacity.used(), now)
            return site

        session.dirty = False
        session.flushed_at = time.monotonic()
        try:
            await edit_site(self.store, session.site_name, write)
        except NotFound:
            await session.fail("unknown_site", "this site was removed from the registry")
        if taken and not release:  # a session at another hub process claimed the site
            await session.fail("superseded", "a newer session of this site took over")

    async def sweep(self) -> None:
        dead_after = self.limits.dead_after
        now_m = time.monotonic()
        due = []
        for session in list(self.sessions.values()):
            if now_m - session.last_frame > dead_after:
                await session.fail("dead", f"nothing heard for {dead_after:g} s")
            elif session.dirty or now_m - session.flushed_at > dead_after / 3:
                due.append(session)
        # together, so the store commits them together: with 10,000 sites a sweep is due to
        # write ~3,750 site records, which one at a time were as many fsyncs
        for start in range(0, len(due), FLUSH_AT_ONCE):
            batch = due[start : start + FLUSH_AT_ONCE]
            outcomes = await asyncio.gather(*map(self._flush, batch), return_exceptions=True)
            for outcome in outcomes:  # the pass stops at an error, as one at a time did
                if isinstance(outcome, BaseException):
                    raise outcome
        now = self.clock()
        for record in await list_all(self.store, SITE_KIND, {"state": "online"}):
            sync = record.value.get("sync") or {}
            mine = self.sessions.get(str(record.value.get("id")))
            if mine is not None and mine.epoch == sync.get("session"):
                continue
            if _silent(sync, now, dead_after):
                await self._offline(record.key, now, dead_after)
        await self._mark()

    async def _offline(self, name: str, now: float, dead_after: float) -> None:
        def offline(site: JSON) -> JSON | None:
            sync = site.get("sync") or {}
            if site["state"] != "online" or not _silent(sync, now, dead_after):
                return None  # changed meanwhile (a new session claimed it)
            log.info("site %s is offline: nothing heard for %g s", name, dead_after)
            return {**site, "state": "offline", "sync": {**sync, "session": None}}

        with contextlib.suppress(NotFound):
            await edit_site(self.store, name, offline)


def _silent(sync: JSON, now: float, dead_after: float) -> bool:
    """Nothing heard from the site for ``dead_after`` (by any hub process's session)."""
    heard = sync.get("last_heard")
    return not isinstance(heard, int | float) or now - heard > dead_after


def _capacity(site_name: str, frame: frames.Hello | frames.Ping) -> frames.Capacity | None:
    """The capacity ``frame`` reports, or None: none, or figures beyond what any site may
    have (logged: the site keeps its session, its record the figures it had). A site says
    its figures in every hello and in a ping only when they change, so this is logged once
    a session, and again only for other figures."""
    try:
        return frames.capacity_of(frame)
    except InvalidInput as exc:
        problems = "; ".join(f"{p.where}: {p.what}" for p in exc.problems)
        log.warning("site %s: capacity report refused, its figures stay as they were: %s",
                    site_name, problems)  # fmt: skip
        return None


def recorded_seq(value: object) -> bool:
    """Whether ``value`` may be a site's ``acked_seq`` (0 to :data:`MAX_SEQ`; missing is 0).
    An older hub recorded any seq a site sent, 2^64-1 too: such an acked_seq made every
    later fact of the site look recorded already, and a site cannot number past it."""
    return value is None or (type(value) is int and 0 <= value <= MAX_SEQ)


def implausible_seq(
    facts: tuple[frames.Fact, ...], acked_seq: int
) -> tuple[tuple[frames.Fact, ...], str | None]:
    """``facts`` up to the first new one (above ``acked_seq``) whose seq is past
    :data:`MAX_SEQ` or more than :data:`MAX_SEQ_GAP` after the one before it, and what is
    wrong with that one (None: nothing). Recorded, such a seq would be the site's
    ``acked_seq`` for good and every later fact of it ignored as one recorded already."""
    before = acked_seq
    for i, fact in enumerate(facts):
        if fact.seq <= before:
            continue  # sent again: recorded already
        if fact.seq > MAX_SEQ or fact.seq - before > MAX_SEQ_GAP:
            return facts[:i], (
                f"fact seq {fact.seq} ({fact.type}) follows {before}: no site counts so far "
                f"(at most {MAX_SEQ_GAP} on, and {MAX_SEQ}; a corrupt outbox?); the hub "
                f"acknowledged up to {before} and records nothing after it"
            )
        before = fact.seq
    return facts, None


def _check_order(frame: frames.Facts) -> None:
    seqs = [fact.seq for fact in frame.items]
    if any(b <= a for a, b in itertools.pairwise(seqs)):
        raise SessionError("out_of_order", "facts in a frame come in increasing seq order")


def _frame(msg: Any, max_frame: int) -> frames.Frame:
    if msg.type == WSMsgType.BINARY:
        try:
            return codec.decode(msg.data, max_frame=max_frame)
        except codec.FrameError as exc:
            raise SessionError(exc.code, exc.message) from exc
    if msg.type == WSMsgType.TEXT:
        raise SessionError("bad_frame", "frames are binary websocket messages")
    if msg.type == WSMsgType.ERROR:
        raise SessionError("too_large", f"the message could not be read: {msg.data}")
    raise SessionError("closed", "the connection closed")


async def _refuse(ws: web.WebSocketResponse, code: str, message: str) -> None:
    """An error before the session exists (its number is 1: the hub's first frame)."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_bytes(codec.encode(frames.Error(v=versions.OLDEST_ACCEPTED, n=1, code=code,
                                                      message=message[:4096])))  # fmt: skip
    await ws.close()


SERVER = web.AppKey("sync_server", SyncServer)


def install(
    app: web.Application,
    settings: HubSettings,
    store: Store,
    clock: Any,
    telemetry: TelemetryKeeper,
    site_names: SiteNames,
) -> SyncServer:
    """Give the app its sync server, started and stopped with it."""
    server = app[SERVER] = SyncServer(settings, store, telemetry, site_names, clock)

    async def start(app: web.Application) -> None:
        await server.start()

    async def stop(app: web.Application) -> None:
        await server.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return server
