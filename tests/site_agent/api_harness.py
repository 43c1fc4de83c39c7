"""An API context over a real SQLite store and the fake storage driver's image cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atoll.site_agent.api.context import ApiContext
from atoll.site_agent.auth import Authenticator
from atoll.site_agent.catalog import StorageCatalog
from atoll.site_agent.drivers.storage.fake import FakeStorage
from atoll.site_agent.resources import Resources
from atoll.site_agent.store import LocalStore


async def make_context(tmp: Path) -> tuple[ApiContext, LocalStore, str]:
    """Returns the context, its store, and the admin secret printed at first start."""
    store = await LocalStore(tmp / "agent.db").open()
    storage = FakeStorage(root=tmp / "storage")
    storage.incoming_dir.mkdir(parents=True)  # uploads are written here (the fake writes none)
    storage.preload_image("cirros", 16 * 1024 * 1024)
    auth = Authenticator(store, tmp)
    secret = await store.call(auth.bootstrap_blocking)
    assert secret is not None
    (tmp / "import").mkdir()
    catalog = StorageCatalog(storage, import_dir=tmp / "import")
    resources = Resources(store, catalog)
    await store.call(resources.seed_blocking)

    async def console(server_id: str, tail: int) -> str:
        return f"console of {server_id}"[-tail:]

    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    ctx = ApiContext(resources, auth, catalog, console, health)
    return ctx, store, secret
