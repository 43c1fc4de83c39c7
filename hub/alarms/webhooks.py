"""Alarm actions by webhook: ``POST`` the alarm's state change to each of its URLs.

Through the one HTTP client core (:class:`atoll.client.aio.AsyncClient`): a JSON body
``{"alarm_id", "alarm_name", "project_id", "site", "severity", "previous", "current",
"reason", "timestamp"}``, no credentials, redirects not followed. Before every try the URL
is checked by ``check`` (the hub's one rule for addresses a tenant makes it call,
:func:`atoll.hub.lcm.callbacks.check_address`, handed in by the app): a refused address is
not called. A URL that fails (cannot connect, times out, or answers 5xx/429) is tried again
after 1 s, 2 s, ... up to ``attempts`` tries; a 4xx other than 429, a redirect or a refused
address is not retried. Failures are logged once per delivery; they never stop the
evaluation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from atoll.client.aio import AsyncClient
from atoll.errors import AtollError
from atoll.jsonbody import JSON

Check = Callable[[str], Awaitable[None]]  # raises (not retryable) if the URL may not be called

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    url: str
    ok: bool
    attempts: int
    error: str = ""


def payload(alarm: JSON, previous: str | None) -> JSON:
    return {
        "alarm_id": alarm["id"],
        "alarm_name": alarm["name"],
        "project_id": alarm.get("project_id"),
        "site": alarm.get("site"),
        "severity": alarm.get("severity"),
        "previous": previous,
        "current": alarm["state"],
        "reason": alarm.get("state_reason", ""),
        "timestamp": alarm.get("state_timestamp"),
    }


async def deliver(
    url: str, body: JSON, *, attempts: int, request_timeout: float, check: Check
) -> Delivery:
    """POST ``body`` to ``url``, retrying what a retry can help (see the module docstring)."""
    client = AsyncClient(url, timeout=request_timeout)
    client.what = f"webhook {url}"
    error = ""
    try:
        for attempt in range(1, max(1, attempts) + 1):
            try:
                await check(url)
                reply = await client.reply("POST", "", body, auth=False, follow_redirects=False)
                if reply.status >= 300:
                    return _failed(url, attempt, f"answered {reply.status} (not followed)")
                return Delivery(url, True, attempt)
            except AtollError as exc:
                if not exc.retryable:  # the receiver refuses it: asking again will not help
                    return _failed(url, attempt, exc.message)
                error = exc.message
            if attempt < attempts:
                await asyncio.sleep(float(attempt))
        return _failed(url, attempts, error)
    finally:
        await client.close()


def _failed(url: str, attempts: int, error: str) -> Delivery:
    log.warning("alarm webhook %s failed after %d attempts: %s", url, attempts, error)
    return Delivery(url, False, attempts, error)


async def notify(
    alarm: JSON, previous: str | None, *, attempts: int, request_timeout: float, check: Check
) -> list[Delivery]:
    """Send the alarm's state change to all of its webhooks at once."""
    body = payload(alarm, previous)
    urls = alarm.get("webhooks") or []
    return list(
        await asyncio.gather(
            *(
                deliver(u, body, attempts=attempts, request_timeout=request_timeout, check=check)
                for u in urls
            )
        )
    )
