"""``Resources.apply``: the one way intent enters a site, recording who owns what.

Intent from the hub (what the sync inbox will hand in) keeps its hub id, project id, origin
and hub revision; delivered twice it has one effect; a local change of the same object is
never silently replaced.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from atoll import ids
from atoll.errors import Conflict
from atoll.resources import Desired
from atoll.site_agent.drivers.compute.base import DomainState
from tests.site_agent.site_harness import Site, lan, make_site

PROJECT = ids.hub_id()


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    s = await make_site(tmp_path)
    try:
        yield s
    finally:
        await s.close()


def hub_intent(kind: str, name: str, spec: dict[str, object], revision: int) -> Desired:
    return Desired.from_wire(
        {
            "kind": kind,
            "meta": {"id": ids.hub_id(), "name": name, "project_id": PROJECT},
            "spec": spec,
            "origin": "hub",
            "hub_revision": revision,
        }
    )


async def test_hub_intent_is_built_and_keeps_its_owner(site: Site) -> None:
    await lan(site)
    network = (await site.resources.show("network", "lan"))["id"]
    intent = hub_intent(
        "server", "web1",
        {"flavor": "tiny", "image": "cirros", "nics": [{"network": network}]}, revision=7,
    )  # fmt: skip
    shown = await site.resources.apply(intent)
    assert shown["id"] == intent.meta.id and ids.origin_of(shown["id"]) == "hub"
    await site.converge()
    assert (await site.resources.show("server", "web1"))["status"] == "ACTIVE"
    assert (await site.domains())[intent.meta.id].state == DomainState.RUNNING
    stored = await site.store.call(site.store.get_object, "server", intent.meta.id)
    assert (stored.origin, stored.hub_revision, stored.project_id) == ("hub", 7, PROJECT)
    port = stored.spec["ports"][0]
    stored_port = await site.store.call(site.store.get_object, "port", port)
    assert (stored_port.origin, stored_port.project_id) == ("hub", PROJECT)


async def test_the_same_intent_twice_has_one_effect(site: Site) -> None:
    intent = hub_intent("volume", "data", {"size_gb": 1}, revision=3)
    first = await site.resources.apply(intent)
    again = await site.resources.apply(intent)  # at-least-once delivery: redelivered
    assert first["id"] == again["id"]
    volumes = await site.resources.list_kind("volume")
    assert [v["id"] for v in volumes] == [intent.meta.id]
    generation = (await site.store.call(site.store.get_object, "volume", intent.meta.id)).generation
    assert generation == 1


async def test_a_different_intent_for_an_existing_object_is_a_conflict(site: Site) -> None:
    intent = hub_intent("flavor", "gold", {"vcpus": 1, "ram_mb": 256}, revision=3)
    await site.resources.apply(intent)
    newer = Desired.from_wire({**intent.to_wire(), "hub_revision": 4})
    with pytest.raises(Conflict, match="exists already"):
        await site.resources.apply(newer)


async def test_the_local_api_goes_through_apply_as_site_intent(site: Site) -> None:
    made = await site.resources.create_volume({"name": "scratch", "size_gb": 1})
    stored = await site.store.call(site.store.get_object, "volume", made["id"])
    assert (stored.origin, stored.hub_revision, stored.project_id) == ("site", None, None)
    assert ids.origin_of(made["id"]) == "site"
