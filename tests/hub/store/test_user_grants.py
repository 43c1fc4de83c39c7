"""A grant and the deletion of its user, interleaved both ways, on every backend: no grant
outlives its user, and a later user of the same name holds no role
(:func:`atoll.hub.identity.tenancy.grant`, :func:`~atoll.hub.identity.tenancy.end_user`).

Each side runs on its own handle (another hub process's view of the store, as
``Backend.open`` gives), one of them held at its commit (:class:`HeldAtCommit`) while the
other runs whole. Before grants named users by id, both orders left the grant behind, and the
new user of that name inherited its role.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Sequence

import pytest

from atoll.errors import NotFound
from atoll.hub.identity import assignments, tenancy
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND
from atoll.hub.store.base import Change, ListQuery, Page, Record, Store, Write
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from tests.hub.store.conftest import Backend

NOW = "2026-06-01T00:00:00Z"
OLD_BOB, NEW_BOB, PROJECT_ID = "1" * 32, "2" * 32, "9" * 32


class HeldAtCommit:
    """A store handle whose first commit waits, once it is asked for, until :attr:`go` is
    set (:attr:`reached` says it has been asked for); everything else goes straight through."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.backend = store.backend
        self.reached = asyncio.Event()
        self.go = asyncio.Event()

    async def commit(self, writes: Sequence[Write]) -> int:
        if not self.go.is_set():
            self.reached.set()
            await self.go.wait()
        return await self._store.commit(writes)

    async def get(self, kind: str, key: str) -> Record:
        return await self._store.get(kind, key)

    async def put(
        self, kind: str, key: str, value: JSON, *, expect_revision: int | None = None
    ) -> Record:
        return await self._store.put(kind, key, value, expect_revision=expect_revision)

    async def delete(self, kind: str, key: str, *, expect_revision: int | None = None) -> int:
        return await self._store.delete(kind, key, expect_revision=expect_revision)

    async def list(self, query: ListQuery) -> Page:
        return await self._store.list(query)

    async def changes(
        self, since: int, limit: int = 1000, *, kind: str | None = None, key_prefix: str = ""
    ) -> builtins.list[Change]:
        return await self._store.changes(since, limit, kind=kind, key_prefix=key_prefix)

    def watch(self, since: int, *, kind: str | None = None) -> AsyncIterator[Change]:
        return self._store.watch(since, kind=kind)

    async def revision(self) -> int:
        return await self._store.revision()

    async def close(self) -> None:
        await self._store.close()


async def bob_and_project(store: Store) -> None:
    await store.put("user", "bob", {"id": OLD_BOB, "name": "bob", "created_at": NOW})
    await store.put("project", "p", {"id": PROJECT_ID, "name": "p", "created_at": NOW})
    credential = {"id": "c" * 32, "user": "bob", "user_id": OLD_BOB, "project_id": PROJECT_ID}
    await store.put(APP_CREDENTIAL_KIND, "c" * 32, credential)


async def nothing_left_for_a_new_bob(store: Store) -> None:
    for kind in (assignments.KIND, APP_CREDENTIAL_KIND):
        assert await list_all(store, kind, {"user": "bob"}) == [], kind
        assert await list_all(store, kind, {"user_id": OLD_BOB}) == [], kind
    new_bob = {"id": NEW_BOB, "name": "bob", "created_at": NOW}
    await store.put("user", "bob", new_bob, expect_revision=0)
    assert await assignments.roles_on(store, NEW_BOB, PROJECT_ID) == ()
    assert await assignments.roles_on(store, NEW_BOB, None) == ()
    assert await assignments.projects_of(store, NEW_BOB) == set()


@pytest.mark.parametrize("project", ["p", None], ids=["on-project", "on-system"])
async def test_a_grant_whose_user_is_deleted_before_it_commits_fails(
    backend: Backend, project: str | None
) -> None:
    """The grant reads bob (and the project), the delete runs whole, the grant commits."""
    await bob_and_project(backend.open())
    granter = HeldAtCommit(backend.open())
    granting = asyncio.create_task(tenancy.grant(granter, "bob", project, "admin", NOW))
    await granter.reached.wait()
    assert await tenancy.end_user(backend.open(), "bob", None) == OLD_BOB
    granter.go.set()
    with pytest.raises(NotFound, match="user bob does not exist"):
        await granting
    await nothing_left_for_a_new_bob(backend.open())


@pytest.mark.parametrize("project", ["p", None], ids=["on-project", "on-system"])
async def test_a_delete_that_read_before_a_grant_committed_removes_it(
    backend: Backend, project: str | None
) -> None:
    """The delete reads bob and what he holds, the grant runs whole, the delete commits."""
    await bob_and_project(backend.open())
    deleter = HeldAtCommit(backend.open())
    deleting = asyncio.create_task(tenancy.end_user(deleter, "bob", None))
    await deleter.reached.wait()
    granted = await tenancy.grant(backend.open(), "bob", project, "admin", NOW)
    assert granted.value["user_id"] == OLD_BOB
    deleter.go.set()
    assert await deleting == OLD_BOB  # read again, the grant with the rest
    await nothing_left_for_a_new_bob(backend.open())


async def test_a_grant_names_its_user_and_project_by_id_and_touches_both(
    backend: Backend,
) -> None:
    store = backend.open()
    await bob_and_project(store)
    before = {k: (await store.get(k, n)).revision for k, n in (("user", "bob"), ("project", "p"))}
    granted = await tenancy.grant(store, "bob", "p", "member", NOW)
    assert granted.key == "bob:project:p:member"
    assert (granted.value["user_id"], granted.value["project_id"]) == (OLD_BOB, PROJECT_ID)
    for kind, name in (("user", "bob"), ("project", "p")):
        assert (await store.get(kind, name)).revision > before[kind]
    assert await assignments.roles_on(store, OLD_BOB, PROJECT_ID) == ("member",)
    with pytest.raises(NotFound, match="user carl does not exist"):
        await tenancy.grant(store, "carl", "p", "member", NOW)
    with pytest.raises(NotFound, match="project q does not exist"):
        await tenancy.grant(store, "bob", "q", "member", NOW)
