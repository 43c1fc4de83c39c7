"""A real hub (``atoll hub init`` data dir, HTTPS with its own CA) on loopback, for image tests.

The store is a MemoryStore seeded from the data dir; ``cut_after`` (a mutable box) makes the
hub drop the connection on every chunk request after that many were served, to test resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from cryptography import x509

from atoll import certs, tokens
from atoll.client import HubClient
from atoll.hub import bootstrap
from atoll.hub.app import build_app
from atoll.hub.settings import HubSettings
from atoll.hub.store.memory import MemoryStore
from atoll.site_agent.enrollment import join_with
from atoll.site_agent.hub_link import HubLink
from atoll.sync.join import JoinCode

ADMIN_PASSWORD = "admin-password-for-tests"


@dataclass
class Cut:
    after: int | None = None
    served: int = 0


@dataclass
class HttpsHub:
    url: str
    ca_file: Path
    admin: HubClient
    cut: Cut
    data_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, token: str) -> HubClient:
        return HubClient(self.url, token, str(self.ca_file), timeout=120)


def _cutter(cut: Cut) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if "/chunks/" in request.path:
            if cut.after is not None and cut.served >= cut.after:
                assert request.transport is not None
                request.transport.close()  # the WAN link goes down mid-transfer
                raise web.HTTPServiceUnavailable()
            cut.served += 1
        return await handler(request)

    return middleware


@asynccontextmanager
async def https_hub(data_dir: Path) -> AsyncIterator[HttpsHub]:
    await asyncio.to_thread(bootstrap.init, data_dir, ADMIN_PASSWORD, [])
    layout = bootstrap.DataDir(data_dir)
    store = MemoryStore()
    await bootstrap.seed_store(store, data_dir)
    settings = HubSettings(
        data_dir=data_dir, password_time_cost=1, password_memory_kib=8, password_parallelism=1
    )
    app = build_app(settings, store, tokens.load_private_key(layout.token_key))
    cut = Cut()
    app.middlewares.append(_cutter(cut))
    runner = web.AppRunner(app)
    await runner.setup()
    ssl_context = certs.server_ssl_context(
        layout.server_cert, layout.server_key, client_ca=layout.ca_cert
    )
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    try:
        anon = HubClient(url, None, str(layout.ca_cert))
        reply = await asyncio.to_thread(
            anon.post, "/v1/auth/tokens", {"user": "admin", "password": ADMIN_PASSWORD}
        )
        admin = HubClient(url, reply["token"], str(layout.ca_cert), timeout=120)
        yield HttpsHub(url, layout.ca_cert, admin, cut, data_dir)
    finally:
        await runner.cleanup()
        await store.close()


async def join_site(hub: HttpsHub, site: str, data_dir: Path) -> HubLink:
    """The field engineer's join: a join token from the hub, then the agent's join with the
    code (the site certificate lands under ``data_dir/hub``)."""
    made = await asyncio.to_thread(hub.admin.post, "/v1/join_tokens", {"site": site})
    pin = certs.ca_pin(x509.load_pem_x509_certificate(hub.ca_file.read_bytes()))
    return await join_with(data_dir, JoinCode(hub.url, made["token"], pin))
