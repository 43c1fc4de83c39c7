"""A server's console log read from its site over the site's sync session (protocol version
3, ``sync/PROTOCOL.md`` "Requests"), for ``POST /v1/sites/{site}/servers/{id}/console``.

:func:`read_console` sends a ``console`` request through the site's session at this hub
process and waits for its ``console_reply``; what can go wrong is an error a person can act
on, with a stable code::

    SiteNotConnected   (TemporaryError)  site_not_connected  503  no session here (the site
                                                                  is offline, or another hub
                                                                  process holds its session)
    SiteTooOld         (Conflict)        site_too_old        409  its agent speaks version
                                                                  2 or older
    SiteTimedOut       (TemporaryError)  site_timeout        504  no reply within
                                                                  sync_request_timeout
    NoConsole          (Conflict)        no_console          409  the site has no console
                                                                  of it (not built yet)
    SiteBusy           (TemporaryError)  site_busy           503  too many requests waiting
    ConsoleUnreadable  (DependencyError) console_unreadable  503  the site could not read it
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from atoll.errors import Conflict, DependencyError, TemporaryError
from atoll.hub.sync.server import SyncServer
from atoll.hub.sync.session import SessionEnded, TooManyAsked
from atoll.jsonbody import JSON
from atoll.sync import console, versions


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


@dataclass(frozen=True)
class ConsoleOutput:
    output: str
    truncated: bool  # lines asked for were left out to fit the site's reply in one frame


async def read_console(
    sync: SyncServer, site: JSON, server_id: str, lines: int, within: float
) -> ConsoleOutput:
    """Server ``server_id``'s last ``lines`` console lines, as site ``site`` reads them,
    if it answers ``within`` seconds."""
    name = site["name"]
    session = sync.session_of(str(site["id"]))
    if session is None:
        raise SiteNotConnected(_not_connected(site))
    if not versions.supports(session.version, "console"):
        raise SiteTooOld(
            f"site {name}'s agent is too old for console through the hub (its sync session "
            f"speaks protocol version {session.version}; console needs version "
            f"{versions.FEATURES['console']}): upgrade the agent, or read the console at the "
            "site (atoll server console --site-url)"
        )
    try:
        async with asyncio.timeout(within):
            reply = await session.ask_console(server_id, lines)
    except TimeoutError as exc:
        raise SiteTimedOut(f"site {name} did not answer within {within:g} s "
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


def _not_connected(site: JSON) -> str:
    """Why there is no session of ``site`` here, as the site record says."""
    name, state = site["name"], site.get("state")
    if state == "online" and (site.get("sync") or {}).get("session"):
        return (f"site {name} is not connected to this hub process (another one holds its "
                "sync session); retry")  # fmt: skip
    last = site.get("last_seen")
    since = f" (last seen {last})" if last else " (never connected)"
    return f"site {name} is not connected{since}: its console is read through its sync session"
