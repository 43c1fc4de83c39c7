"""A server's console log read from its site over the site's sync session (protocol version
3, ``sync/PROTOCOL.md`` "Requests"), for ``POST /v1/sites/{site}/servers/{id}/console``.

:func:`read_console` sends a ``console`` request through the site's session and waits for
its ``console_reply``: at this hub process if the session is here, else through the hub
store to the process that holds it (:mod:`.relay`; :func:`answer` is what that process
does with it: the same ask, its outcome written back). What can go wrong is an error a
person can act on, with a stable code, the same whichever process holds the session::

    SiteNotConnected   (TemporaryError)  site_not_connected  503  no session (the site is
                                                                  offline, or no hub process
                                                                  holding one took the
                                                                  request in time)
    SiteTooOld         (Conflict)        site_too_old        409  its agent speaks version
                                                                  2 or older
    SiteTimedOut       (TemporaryError)  site_timeout        504  no reply within
                                                                  sync_request_timeout
    NoConsole          (Conflict)        no_console          409  the site has no console
                                                                  of it (not built yet)
    SiteBusy           (TemporaryError)  site_busy           503  too many requests waiting
    ConsoleUnreadable  (DependencyError) console_unreadable  503  the site could not read it

A relayed reply carries the outcome as the holder saw it: ``{"output", "truncated"}``, the
output cut to fit :data:`MAX_RELAYED` bytes of JSON (and ``sync_max_frame``), or
``{"error": code, "message"}``, one of the codes above.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web

from atoll import ids
from atoll.errors import AtollError, Conflict, DependencyError, TemporaryError
from atoll.hub.store.base import Store
from atoll.hub.sync.relay import Asked, NotAnswered, NotTaken, Relay, RelayBusy
from atoll.hub.sync.server import SyncServer
from atoll.hub.sync.session import Session, SessionEnded, TooManyAsked
from atoll.jsonbody import JSON
from atoll.sync import console, frames, versions

MAX_RELAYED = 1024 * 1024  # bytes of JSON a relayed reply's output takes, at most (etcd
# takes a request of 1.5 MiB by default)


class SiteNotConnected(TemporaryError):
    code = "site_not_connected"


class SiteTooOld(Conflict):
    code = "site_too_old"


class SiteTimedOut(TemporaryError):
    code = "site_timeout"
    http_status = 504


class NoConsole(Conflict):
    code = "no_console"


class SiteBusy(TemporaryError):
    code = "site_busy"


class ConsoleUnreadable(DependencyError):
    code = "console_unreadable"


ERRORS: dict[str, type[AtollError]] = {
    cls.code: cls
    for cls in (SiteNotConnected, SiteTooOld, SiteTimedOut, NoConsole, SiteBusy, ConsoleUnreadable)
}


@dataclass(frozen=True)
class ConsoleOutput:
    output: str
    truncated: bool  # lines asked for were left out to fit the site's reply in one frame


async def read_console(
    sync: SyncServer, relay: Relay, site: JSON, server_id: str, lines: int, within: float
) -> ConsoleOutput:
    """Server ``server_id``'s last ``lines`` console lines, as site ``site`` reads them,
    if it answers ``within`` seconds. The caller has checked who may read them: this asks
    the site for that server's, and nothing else."""
    name, site_id = site["name"], str(site["id"])
    session = sync.session_of(site_id)
    if session is not None:
        return await ask_session(session, server_id, lines, within, within)
    if not (site.get("sync") or {}).get("session"):  # no session anywhere: say so at once
        raise SiteNotConnected(_not_connected(site))
    ask = {"type": "console", "site": name, "server_id": server_id, "lines": lines}
    try:
        reply = await relay.ask(site_id, ask, within)
    except NotTaken as exc:
        raise SiteNotConnected(f"site {name} is not connected: no hub process holding its "
                               f"sync session took the request within {within:g} s (it may "
                               "be reconnecting); retry") from exc  # fmt: skip
    except NotAnswered as exc:
        raise SiteTimedOut(f"site {name} did not answer within {within:g} s "
                           "(sync_request_timeout); retry") from exc  # fmt: skip
    except RelayBusy as exc:
        raise SiteBusy(f"site {name}: {exc}; retry") from exc
    return _relayed(name, lines, reply)


async def ask_session(
    session: Session, server_id: str, lines: int, wait: float, said: float
) -> ConsoleOutput:
    """Ask through ``session`` (here), waiting ``wait`` seconds at most; ``said`` is the
    wait a caller is told of (the asking process's, for a relayed request)."""
    name = session.site_name
    if not versions.supports(session.version, "console"):
        raise SiteTooOld(
            f"site {name}'s agent is too old for console through the hub (its sync session "
            f"speaks protocol version {session.version}; console needs version "
            f"{versions.FEATURES['console']}): upgrade the agent, or read the console at the "
            "site (atoll server console --site-url)"
        )
    try:
        async with asyncio.timeout(wait):
            reply = await session.ask_console(server_id, lines)
    except TimeoutError as exc:
        raise SiteTimedOut(f"site {name} did not answer within {said:g} s "
                           "(sync_request_timeout); retry") from exc  # fmt: skip
    except SessionEnded as exc:
        raise SiteNotConnected(f"site {name} is not connected: {exc}; retry") from exc
    except TooManyAsked as exc:
        raise SiteBusy(f"site {name}: {exc}; retry") from exc
    if reply.error == "not_found":
        raise NoConsole(f"site {name} has no console of server {server_id} (not built there "
                        f"yet, or gone): {reply.message}")  # fmt: skip
    if reply.error == "busy":
        raise SiteBusy(f"site {name} is busy with console requests: {reply.message}")
    if reply.error:
        raise ConsoleUnreadable(f"site {name} could not read the console of server "
                                f"{server_id} ({reply.error}): {reply.message}")  # fmt: skip
    # a site says no more lines than asked for; the hub holds it to that all the same
    return ConsoleOutput(console.last(str(reply.output), lines), reply.truncated)


async def answer(sync: SyncServer, max_bytes: int, asked: Asked) -> JSON:
    """What the hub process holding a site's session replies to a relayed console request:
    the output (within ``max_bytes`` of JSON) or the error, as :func:`ask_session` has it."""
    ask = asked.ask
    name = str(ask.get("site") or asked.site_id)[:200]
    try:
        server_id, lines = _console_ask(ask)
        session = sync.session_of(asked.site_id)
        if session is None:
            raise SiteNotConnected(f"site {name} is not connected: its sync session ended; "
                                   "retry")  # fmt: skip
        got = await ask_session(session, server_id, lines, asked.wait, asked.timeout)
    except tuple(ERRORS.values()) as exc:
        return {"error": exc.code, "message": exc.message}
    output, cut = fit(got.output, lines, max_bytes)
    return {"output": output, "truncated": got.truncated or cut}


def _console_ask(ask: JSON) -> tuple[str, int]:
    server_id, lines = ask.get("server_id"), ask.get("lines")
    if (
        ask.get("type") != "console"
        or not isinstance(server_id, str)
        or not ids.is_id(server_id)
        or type(lines) is not int
        or not 1 <= lines <= frames.MAX_CONSOLE_LINES
    ):
        raise ConsoleUnreadable(f"a relayed request this hub process does not read: {ask!r:.200}")
    return server_id, lines


def fit(text: str, lines: int, max_bytes: int) -> tuple[str, bool]:
    """The last of ``text``'s last ``lines`` lines that take at most ``max_bytes`` as a JSON
    string (a control character takes 6), and whether lines were left out to fit."""
    if len(json.dumps(text)) <= max_bytes:
        return text, False
    room = max_bytes  # bytes of UTF-8 taken from the end, shrunk by what JSON makes of them
    while True:
        out = console.last_lines(text, lines, room)[0] if room > 0 else ""
        size = len(json.dumps(out))
        if size <= max_bytes:
            return out, True
        room = min(room - 1, room * max_bytes // size)


def _relayed(name: str, lines: int, reply: JSON) -> ConsoleOutput:
    """A relayed reply's outcome: the output, or the error it names."""
    error, message = reply.get("error"), reply.get("message")
    if error:
        cls = ERRORS.get(str(error), ConsoleUnreadable)
        raise cls(str(message or f"site {name}: {error}"))
    output, truncated = reply.get("output"), reply.get("truncated")
    if not isinstance(output, str) or not isinstance(truncated, bool):
        raise ConsoleUnreadable(f"site {name}: the hub process holding its session replied "
                                "something other than a console")  # fmt: skip
    return ConsoleOutput(console.last(output, lines), truncated)


def _not_connected(site: JSON) -> str:
    """Why there is no session of ``site``, as the site record says."""
    name = site["name"]
    last = site.get("last_seen")
    since = f" (last seen {last})" if last else " (never connected)"
    return f"site {name} is not connected{since}: its console is read through its sync session"


RELAY = web.AppKey("site_request_relay", Relay)


def install(
    app: web.Application, sync: SyncServer, store: Store, clock: Any, max_frame: int
) -> Relay:
    """Give the app its relay of site requests, started with it and stopped after the
    sync server (whose sessions' ends answer the requests still waiting)."""
    budget = min(max_frame, MAX_RELAYED)
    relay = app[RELAY] = Relay(store, lambda site_id: sync.session_of(site_id) is not None,
                               partial(answer, sync, budget), clock)  # fmt: skip

    async def start(app: web.Application) -> None:
        await relay.start()

    async def stop(app: web.Application) -> None:
        await relay.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return relay
