"""Alarm actions by webhook: ``POST`` the alarm's state change to each of its URLs.

Through the one HTTP client core (:class:`atoll.client.aio.AsyncClient`): a JSON body
``{"alarm_id", "alarm_name", "project_id", "site", "severity", "previous", "current",
"reason", "timestamp"}``, no credentials. A URL that fails (cannot connect, times out, or
answers 5xx/429) is tried again after 1 s, 2 s, ... up to ``attempts`` tries; a 4xx other
than 429 is not retried (the receiver refuses it). Failures are logged once per delivery;
they never stop the evaluation.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from atoll.client.aio import AsyncClient
from atoll.errors import AtollError
from atoll.jsonbody import JSON

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


async def deliver(url: str, body: JSON, *, attempts: int, request_timeout: float) -> Delivery:
    """POST ``body`` to ``url``, retrying what a retry can help (see the module docstring)."""
    client = AsyncClient(url, timeout=request_timeout)
    client.what = f"webhook {url}"
    error = ""
    try:
        for attempt in range(1, max(1, attempts) + 1):
            try:
                await client.request("POST", "", body, auth=False)
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
    alarm: JSON, previous: str | None, *, attempts: int, request_timeout: float
) -> list[Delivery]:
    """Send the alarm's state change to all of its webhooks at once."""
    body = payload(alarm, previous)
    urls = alarm.get("webhooks") or []
    return list(
        await asyncio.gather(
            *(deliver(u, body, attempts=attempts, request_timeout=request_timeout) for u in urls)
        )
    )
