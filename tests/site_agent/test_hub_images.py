"""The site agent's hub image puller is built from its settings, and pulls what servers name."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atoll import ids
from atoll.site_agent.drivers.storage.local import LocalStorage
from atoll.site_agent.drivers.storage.settings import LocalStorageSettings
from atoll.site_agent.hub_images import from_settings
from atoll.site_agent.hub_link import HubLink
from atoll.site_agent.settings import AgentSettings, HubLinkSettings, SiteAgentSettings


@dataclass
class Server:
    spec: dict[str, Any]


class Objects:
    """Stands in for LocalStore: the desired servers, read through ``call``."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers

    def list_objects(self, kind: str | None = None, include_deleting: bool = True) -> list[Any]:
        return self.servers if kind == "server" else []

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


def link(tmp_path: Path) -> HubLink:
    """A joined site's link as HubLink.load gives it (no pass runs here: no files needed)."""
    return HubLink(tmp_path, "https://127.0.0.1:1", "site-id", "edge-7")


async def test_the_puller_is_the_joined_sites_and_settings_reach_it(tmp_path: Path) -> None:
    storage = LocalStorage(LocalStorageSettings(root=tmp_path / "storage"))
    objects = Objects([])
    agent = AgentSettings(data_dir=tmp_path, site_name="local-name")
    settings = SiteAgentSettings(
        site_agent=agent,
        hub=HubLinkSettings(image_bandwidth_bps=1_000_000, image_poll_interval=3.0),
    )
    puller = from_settings(settings, link(tmp_path), storage, objects)
    assert (puller.site, puller.bandwidth_bps, puller.poll_interval) == ("edge-7", 1_000_000, 3.0)
    assert puller.link.url == "https://127.0.0.1:1"
    objects.servers = [
        Server({"image": "a" * 32}),
        Server({"kernel": "b" * 32, "ramdisk": "c" * 32}),
        Server({"image": "local-name"}),  # not a hub id: never asked of the hub
    ]
    assert puller.wanted is not None
    assert await puller.wanted() == {"a" * 32, "b" * 32, "c" * 32, "local-name"}
    assert await puller._needed() == ["a" * 32, "b" * 32, "c" * 32]
    puller._unknown["a" * 32] = time.monotonic()  # the hub said 404 just now: not again yet
    assert await puller._needed() == ["b" * 32, "c" * 32]


async def test_only_ids_the_hub_minted_are_asked_of_the_hub(tmp_path: Path) -> None:
    """atoll.ids.origin_of decides: a site id, an older dashed site id, a local name or text
    not in stored form is never asked of the hub."""
    hub_image, site_image = ids.hub_id(), ids.site_id(ids.site_tag("edge-7"))
    objects = Objects(
        [
            Server({"image": hub_image}),
            Server({"image": site_image}),
            Server({"image": str(uuid.uuid4())}),
            Server({"image": "local-name"}),
            Server({"kernel": ids.hub_id().upper()}),
        ]
    )
    settings = SiteAgentSettings(
        site_agent=AgentSettings(data_dir=tmp_path, site_name="edge-7"),
    )
    storage = LocalStorage(LocalStorageSettings(root=tmp_path / "storage"))
    puller = from_settings(settings, link(tmp_path), storage, objects)
    assert await puller._needed() == [hub_image]
