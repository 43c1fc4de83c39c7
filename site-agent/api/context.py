"""What the API handlers are given: the service objects they call, nothing global."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from atoll.site_agent.auth import Authenticator
from atoll.site_agent.catalog import ImageCatalog
from atoll.site_agent.resources import Resources


@dataclass(frozen=True)
class ApiContext:
    resources: Resources
    auth: Authenticator
    images: ImageCatalog
    console: Callable[[str, int], Awaitable[str]]  # server id, tail bytes -> text
    health: Callable[[], Awaitable[dict[str, Any]]]
    metrics: Callable[[], Awaitable[bytes]] | None = None
    metrics_auth: bool = False
    request_read_timeout: float = 60.0  # a JSON body arrives whole within (atoll.api.slow_clients)
    ready: Callable[[], Awaitable[dict[str, Any]]] | None = None  # None: ready when it answers
