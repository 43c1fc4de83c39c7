"""SiteNames: a site found by the id its certificate names, by one read under the name it was
last found under, and never a record that no longer carries that id."""

from __future__ import annotations

from atoll.hub.sites.peers import SiteNames
from atoll.hub.sites.registry import SITE_KIND
from atoll.hub.store.base import ListQuery, Page
from atoll.hub.store.memory import MemoryStore


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.lists = 0

    async def list(self, query: ListQuery) -> Page:
        self.lists += 1
        return await super().list(query)


async def site(store: MemoryStore, name: str, site_id: str) -> None:
    await store.put(SITE_KIND, name, {"id": site_id, "name": name})


async def test_a_known_site_is_one_read_by_key() -> None:
    store = CountingStore()
    for i in range(5):
        await site(store, f"s{i}", f"id-{i}")
    names = SiteNames(store)
    assert (await names.find("id-3") or {})["name"] == "s3"
    assert store.lists == 1
    for _ in range(3):
        assert (await names.find("id-3") or {})["name"] == "s3"
    assert store.lists == 1  # the scan ran once


async def test_a_name_that_now_holds_another_site_is_not_taken_for_it() -> None:
    store = CountingStore()
    await site(store, "edge", "id-old")
    names = SiteNames(store)
    assert await names.find("id-old") is not None
    await store.delete(SITE_KIND, "edge")
    assert await names.find("id-old") is None  # deleted
    await site(store, "edge", "id-new")
    assert await names.find("id-old") is None  # the same name, another site
    assert (await names.find("id-new") or {})["id"] == "id-new"


async def test_a_site_found_under_another_name_is_found_again() -> None:
    store = CountingStore()
    await site(store, "before", "id-1")
    names = SiteNames(store)
    assert (await names.find("id-1") or {})["name"] == "before"
    await store.delete(SITE_KIND, "before")
    await site(store, "after", "id-1")  # as a rename would leave it
    assert (await names.find("id-1") or {})["name"] == "after"
    assert await names.find("id-unknown") is None
