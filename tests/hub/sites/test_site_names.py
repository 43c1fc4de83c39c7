"""SiteNames: a site found by the id its certificate names, by one read under the name it was
last found under, and never a record that no longer carries that id."""

from __future__ import annotations

from atoll.hub.sites.peers import RELOAD_AFTER, SiteNames
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


async def test_one_listing_learns_every_site_then_each_is_one_read_by_key() -> None:
    """A restarted hub's whole fleet reconnecting costs one listing, not a scan per site."""
    store = CountingStore()
    for i in range(5):
        await site(store, f"s{i}", f"id-{i}")
    names = SiteNames(store)
    for _ in range(3):
        for i in range(5):
            assert (await names.find(f"id-{i}") or {})["name"] == f"s{i}"
    assert store.lists == 1


async def test_an_unknown_id_reads_every_name_again_at_most_every_reload_after() -> None:
    store, now = CountingStore(), [0.0]
    names = SiteNames(store, clock=lambda: now[0])
    assert await names.find("id-late") is None  # a listing, then a search for the id
    assert store.lists == 2
    await site(store, "late", "id-late")
    await site(store, "later", "id-later")
    assert (await names.find("id-late") or {})["name"] == "late"  # the search alone
    assert store.lists == 3
    now[0] += RELOAD_AFTER + 1
    assert (await names.find("id-later") or {})["name"] == "later"  # a listing again
    assert store.lists == 4
    assert (await names.find("id-late") or {})["name"] == "late"
    assert store.lists == 4


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
