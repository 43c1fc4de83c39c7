"""Clients too slow to send their request: what both daemons do about them.

A daemon's runner closes a connection that has not sent a request's headers within its
``request_read_timeout`` (given to aiohttp as ``keepalive_timeout``, which times a
connection's first request as well as the wait between requests); :func:`within` bounds
reading a JSON body by the same time (:class:`~atoll.errors.RequestTimeout`, 408), and each
daemon's errors middleware then sends that answer and closes the connection at once
(:func:`answer_and_close`): aiohttp would otherwise linger 10 s more for the body. Uploads
follow their own idle rule, and an open stream is not cut. Without these a client holding
half a request (slowloris) kept one of the daemon's files for an hour, or for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

from atoll.errors import Problem, RequestTimeout

T = TypeVar("T")


async def within(seconds: float, reading: Awaitable[T]) -> T:
    """``reading`` (of a request's body), or RequestTimeout if it takes over ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await reading
    except TimeoutError:
        raise RequestTimeout(
            "the request body did not arrive in time",
            [Problem("body", f"not all sent within {seconds:g} s")],
        ) from None


async def answer_and_close(request: web.Request, response: web.StreamResponse) -> None:
    """Send ``response`` (a 408), then close the connection: the rest of the request's body
    never came."""
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write_eof()
    request.protocol.force_close()
